"""Orders and payments: building an order with its fees, starting a payment attempt."""

from __future__ import annotations

import logging
import secrets
import string
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.timezone import localtime

from blinno.exceptions import BlinnoError
from clickpesa.client import ClickPesaClient, ClickPesaError
from clickpesa.outcome import Outcome
from clickpesa.polling import PollResult, poll_payment
from notifications.models import Notification
from notifications.services import Message, notify, notify_many, notify_staff
from revenue.fees import platform_fee_quote, processing_fee
from revenue.ledger import account_book, credit, debit, ledger_post
from revenue.models import LedgerAccount, LedgerTransaction, PlatformFee
from revenue.money import Currency, format_money, round_money

from .models import Booking, Order, OrderLine, Payment, Subscription

logger = logging.getLogger(__name__)

_REFERENCE_ALPHABET = string.ascii_uppercase + string.digits


def new_reference(prefix: str) -> str:
    """A fresh ClickPesa orderReference: letters and digits only, unguessable, never reused."""
    return prefix + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(12))


@dataclass(frozen=True)
class LineSpec:
    """One line of an order to be created."""

    creator: object
    transaction_type: str
    amount: Decimal
    description: str = ""
    booking: Booking | None = None
    subscription: Subscription | None = None


@transaction.atomic
def order_create(buyer: object, *, lines: Iterable[LineSpec], currency: str = Currency.TZS) -> Order:
    """Create a PENDING order, its lines and one PENDING fee row per creator and transaction type.

    The buyer pays the subtotal plus the processing fee; each creator earns their subtotal
    less the platform fee for that transaction type (revenue.fees).
    """
    lines = list(lines)
    if not lines:
        raise BlinnoError("An order needs at least one line.", code="empty_order")
    if currency not in Currency.values:
        raise BlinnoError(f"Unsupported currency {currency!r}.", code="bad_currency")
    for line in lines:
        if line.amount <= 0 or round_money(line.amount) != line.amount:
            raise BlinnoError(f"Line amount {line.amount} must be positive with at most 2 decimals.", code="bad_amount")

    subtotal = sum((line.amount for line in lines), Decimal(0))
    fee = processing_fee(subtotal, currency)
    order = Order.objects.create(
        buyer=buyer, currency=currency, subtotal=subtotal, processing_fee=fee, total=subtotal + fee
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            creator=line.creator,
            transaction_type=line.transaction_type,
            description=line.description or line.transaction_type.replace("_", " ").title(),
            amount=line.amount,
            booking=line.booking,
            subscription=line.subscription,
        )
        for line in lines
    )

    subtotals: dict[tuple[object, str], Decimal] = defaultdict(Decimal)
    for line in lines:
        subtotals[(line.creator, line.transaction_type)] += line.amount
    fee_rows = []
    for (creator, transaction_type), creator_subtotal in subtotals.items():
        quote = platform_fee_quote(transaction_type, creator_subtotal, currency)
        fee_rows.append(
            PlatformFee(
                order=order,
                creator=creator,
                transaction_type=transaction_type,
                subtotal=creator_subtotal,
                rate=quote.rate,
                platform_fee=quote.platform_fee,
                creator_amount=quote.creator_amount,
                currency=currency,
            )
        )
    PlatformFee.objects.bulk_create(fee_rows)
    return order


def payment_start(order: Order, *, phone_number: str = "") -> Payment:
    """Open a new payment attempt for the order's total, with a fresh orderReference.

    Allowed while the order is unpaid (PENDING, or PAYMENT_FAILED for a second attempt).
    With a ``phone_number`` (``255XXXXXXXXX``), ClickPesa sends the buyer a USSD push once the
    payment is committed (:func:`payment_push`): right away, in this call, unless the caller
    holds a transaction open, and then when it commits. A push never reaches ClickPesa for a
    payment that was rolled back, so every payment ClickPesa collects is one we have.
    """
    with transaction.atomic():
        payment = _payment_open(order, phone_number=phone_number)
        if phone_number:
            transaction.on_commit(partial(payment_push, payment.pk), robust=True)
    payment.refresh_from_db()
    return payment


def _payment_open(order: Order, *, phone_number: str) -> Payment:
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status not in (Order.Status.PENDING, Order.Status.PAYMENT_FAILED):
        raise BlinnoError(
            f"Order #{order.pk} is {order.get_status_display()}; it takes no payment.", code="order_closed"
        )
    if order.status == Order.Status.PAYMENT_FAILED:
        order.status = Order.Status.PENDING
        order.save(update_fields=["status", "updated_at"])
        order.fees.update(status=PlatformFee.Status.PENDING)
    return Payment.objects.create(
        order=order,
        reference=new_reference("BLN"),
        amount=order.total,
        currency=order.currency,
        phone_number=phone_number,
    )


def payment_push(payment_id: int) -> None:
    """Ask ClickPesa to send the buyer a USSD push for a PENDING payment; errors are kept on the payment.

    Accepted: ``push_sent_at`` and ClickPesa's id are recorded; the webhook (or the poller)
    brings the outcome. A definitive refusal (an invalid phone number) fails the payment with
    ClickPesa's reason, as a ``PAYMENT FAILED`` would: the order is PAYMENT_FAILED and the
    buyer told. Any other error leaves the payment PENDING with the error in ``last_error`` and
    ``notes``; whether the push went out is then for the poller to ask ClickPesa. Without
    ClickPesa credentials (a laptop without the simulator) nothing is sent or recorded.
    """
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != Payment.Status.PENDING or payment.push_sent_at or not payment.phone_number:
        return
    if not (settings.CLICKPESA_CLIENT_ID and settings.CLICKPESA_API_KEY):
        logger.info("payment=%s no USSD push: ClickPesa credentials are not configured", payment.pk)
        return
    try:
        with ClickPesaClient() as client:
            answer = client.initiate_ussd_push(
                amount=payment.amount,
                currency=payment.currency,
                order_reference=payment.reference,
                phone_number=payment.phone_number,
            )
    except ClickPesaError as exc:
        error = f"{exc.code}: {exc}" + (f" (HTTP {exc.status_code})" if exc.status_code else "")
        logger.warning("payment=%s USSD push failed: %s", payment.pk, error)
        with transaction.atomic():
            locked = Payment.objects.select_for_update().get(pk=payment.pk)
            locked.last_error = error
            locked.notes = _append_note(locked.notes, f"USSD push failed: {error}")
            locked.save(update_fields=["last_error", "notes", "updated_at"])
            if exc.definitive:
                payment_mark_failed(locked, reason=str(exc))
        return
    now = timezone.now()
    Payment.objects.filter(pk=payment.pk).update(push_sent_at=now, last_error="", updated_at=now)
    # The webhook may have come first and recorded ClickPesa's ids already.
    Payment.objects.filter(pk=payment.pk, gateway_id="").update(gateway_id=answer.id[:64])


def payment_requery(payment: Payment, *, by: object | None = None) -> PollResult:
    """Ask ClickPesa about a payment now and apply its answer as its webhook would be (support's "Re-query").

    The answer is stored as a poll ``WebhookEvent`` (clickpesa.polling), so it shows in the
    audit trail and a late webhook with it changes nothing.
    """
    result = poll_payment(payment, by=by)
    logger.info("payment=%s re-queried by %s: %s", payment.pk, getattr(by, "pk", None) or "system", result.detail)
    return result


def _append_note(existing: str, note: str) -> str:
    stamp = timezone.now().strftime("%Y-%m-%d %H:%M UTC")
    return f"{existing}\n[{stamp}] {note}".strip()


def _lock(payment: Payment) -> Payment:
    # The order is locked with its payment: two attempts of one order cannot both capture it.
    # Its buyer (not locked) comes along: every outcome tells the buyer something.
    return (
        Payment.objects.select_for_update(of=("self", "order"))
        .select_related("order", "order__buyer")
        .get(pk=payment.pk)
    )


def _needs_review(payment: Payment, *, note: str, title: str, event: object | None) -> Outcome:
    """Park a payment for finance: no money moves, the reason is kept, finance is told."""
    payment.status = Payment.Status.NEEDS_REVIEW
    payment.notes = _append_note(payment.notes, note)
    payment.save(update_fields=["status", "notes", "updated_at"])
    notify_staff(
        kind=Notification.Kind.FINANCE_ALERT,
        dedupe_key=f"payment:{payment.pk}:review:{getattr(event, 'pk', 'direct')}",
        context={"title": f"{title}: payment {payment.reference}", "detail": note},
    )
    return Outcome.processed(f"needs review: {note}")


# No savepoint of its own inside a caller's transaction: an error aborts the caller's whole
# transaction (the webhook's), which rolls back with it, and SAVEPOINT and RELEASE cost two round trips.
@transaction.atomic(savepoint=False)
def payment_mark_received(
    payment: Payment,
    *,
    amount: Decimal,
    currency: str,
    gateway_id: str = "",
    gateway_reference: str = "",
    channel: str = "",
    event: object | None = None,
) -> Outcome:
    """Apply "money collected" to a payment (DESIGN.md handler 1), once.

    On a PENDING payment whose amount and currency match: payment COMPLETED, order PAID,
    bookings CONFIRMED, subscriptions ACTIVE, fee rows COLLECTED, one PAYMENT_CAPTURE
    ledger transaction, a sale notice to each creator and a receipt to the buyer.
    A mismatch, or success after a failure, or a second paid attempt of one order, or a
    payment for a cancelled order, moves no money: the payment goes to NEEDS_REVIEW and
    finance is told.
    """
    payment = _lock(payment)
    order = payment.order
    if payment.status == Payment.Status.COMPLETED:
        return Outcome.ignored("payment already completed")
    if payment.status == Payment.Status.NEEDS_REVIEW:
        return Outcome.ignored("payment already needs review; nothing changed")
    if payment.status == Payment.Status.FAILED:
        return _needs_review(
            payment,
            note=f"Success reported after failure ({payment.failure_reason or 'no reason'}): "
            f"{format_money(amount, currency)} collected; nothing credited.",
            title="Success after failure",
            event=event,
        )
    if amount != payment.amount or currency != payment.currency:
        return _needs_review(
            payment,
            note=f"Amount differs: expected {format_money(payment.amount, payment.currency)}, "
            f"ClickPesa collected {format_money(amount, currency)}; nothing credited.",
            title="Collected amount differs",
            event=event,
        )
    if order.status == Order.Status.CANCELLED:
        return _needs_review(
            payment,
            note=f"Order #{order.pk} was cancelled; {format_money(amount, currency)} collected; nothing credited.",
            title="Payment for a cancelled order",
            event=event,
        )
    if order.status == Order.Status.PAID:
        return _needs_review(
            payment,
            note=f"Order #{order.pk} was already paid by another attempt; "
            f"{format_money(amount, currency)} collected twice; nothing credited.",
            title="Order paid twice",
            event=event,
        )

    now = timezone.now()
    payment.status = Payment.Status.COMPLETED
    payment.completed_at = now
    payment.gateway_id = gateway_id[:64]
    payment.gateway_reference = gateway_reference[:64]
    payment.channel = channel[:40]
    payment.save(update_fields=["status", "completed_at", "gateway_id", "gateway_reference", "channel", "updated_at"])
    order.status = Order.Status.PAID
    order.save(update_fields=["status", "updated_at"])
    _settle_pending_lines(order, now, booking=Booking.Status.CONFIRMED, subscription=Subscription.Status.ACTIVE)

    hold_days = settings.EARNINGS_HOLD_DAYS
    hold_until = now + timedelta(days=hold_days) if hold_days > 0 else None
    fees = list(order.fees.select_related("creator"))
    order.fees.update(
        status=PlatformFee.Status.COLLECTED,
        collected_at=now,
        hold_until=hold_until,
        released_at=None if hold_until else now,
        updated_at=now,
    )
    earnings_kind = LedgerAccount.Kind.CREATOR_PENDING if hold_until else LedgerAccount.Kind.CREATOR_AVAILABLE
    _post_capture(payment, order, fees, earnings_kind)
    _notify_capture(payment, order, fees, hold_until, event)
    return Outcome.processed("payment captured")


def _settle_pending_lines(order: Order, now: datetime, *, booking: str, subscription: str) -> None:
    """Move the order's PENDING bookings and subscriptions to the given statuses (an ACTIVE one starts now).

    The lines are read first: most orders sell neither, and then nothing else is sent.
    """
    lines = list(order.lines.values_list("booking_id", "subscription_id"))
    booking_ids = [b for b, _ in lines if b is not None]
    subscription_ids = [s for _, s in lines if s is not None]
    if booking_ids:
        Booking.objects.filter(pk__in=booking_ids, status=Booking.Status.PENDING).update(status=booking, updated_at=now)
    if subscription_ids:
        started = {"started_at": now} if subscription == Subscription.Status.ACTIVE else {}
        Subscription.objects.filter(pk__in=subscription_ids, status=Subscription.Status.PENDING).update(
            status=subscription, updated_at=now, **started
        )


def _post_capture(payment: Payment, order: Order, fees: list[PlatformFee], earnings_kind: str) -> None:
    Kind = LedgerAccount.Kind
    earnings: dict[int, Decimal] = defaultdict(Decimal)
    for fee in fees:
        earnings[fee.creator_id] += fee.creator_amount
    book = account_book(
        order.currency,
        creator_ids=earnings,
        creator_kinds=[earnings_kind],
        platform_kinds=[Kind.GATEWAY_CASH, Kind.PLATFORM_FEES, Kind.PROCESSING_FEES],
    )
    platform_fees = sum((fee.platform_fee for fee in fees), Decimal(0))
    postings = [debit(book.platform(Kind.GATEWAY_CASH), payment.amount)]
    postings += [credit(book.creator(c, earnings_kind), a) for c, a in sorted(earnings.items()) if a > 0]
    if platform_fees > 0:
        postings.append(credit(book.platform(Kind.PLATFORM_FEES), platform_fees))
    if order.processing_fee > 0:
        postings.append(credit(book.platform(Kind.PROCESSING_FEES), order.processing_fee))
    ledger_post(
        kind=LedgerTransaction.Kind.PAYMENT_CAPTURE,
        idempotency_key=f"payment:{payment.pk}:capture",
        postings=postings,
        memo=f"Payment {payment.reference} for order #{order.pk}",
        payment=payment,
    )


def _notify_capture(
    payment: Payment, order: Order, fees: list[PlatformFee], hold_until: object | None, event: object | None
) -> None:
    cur = order.currency
    per_creator: dict[int, list[PlatformFee]] = defaultdict(list)
    for fee in fees:
        per_creator[fee.creator_id].append(fee)
    buyer = order.buyer
    messages = [
        Message(
            Notification.Kind.SALE,
            f"payment:{payment.pk}:sale:{creator_id}",
            {
                "name": rows[0].creator.get_short_name() or rows[0].creator.username,
                "buyer": buyer.get_short_name() or buyer.username,
                "order": order.pk,
                "amount": format_money(sum((f.creator_amount for f in rows), Decimal(0)), cur),
                "fee": format_money(sum((f.platform_fee for f in rows), Decimal(0)), cur),
                # A date, so the text shows it in the reader's language and Tanzania's time.
                "held_until": localtime(hold_until).date() if hold_until else "",
            },
            recipient=rows[0].creator,
        )
        for creator_id, rows in per_creator.items()
    ]
    messages.append(
        Message(
            Notification.Kind.RECEIPT,
            f"payment:{payment.pk}:receipt",
            {
                "name": buyer.get_short_name() or buyer.username,
                "order": order.pk,
                "total": format_money(payment.amount, cur),
                "subtotal": format_money(order.subtotal, cur),
                "processing_fee": format_money(order.processing_fee, cur),
                "reference": payment.reference,
            },
            recipient=buyer,
        )
    )
    notify_many(messages)


@transaction.atomic(savepoint=False)  # as payment_mark_received
def payment_mark_failed(
    payment: Payment,
    *,
    reason: str = "",
    gateway_id: str = "",
    channel: str = "",
    event: object | None = None,
) -> Outcome:
    """Apply "payment failed" (DESIGN.md handler 2), once. No ledger movement.

    A PENDING payment becomes FAILED with the gateway's reason; its order PAYMENT_FAILED,
    fee rows REFUNDED, bookings and subscriptions CANCELLED (unless another attempt of the
    order is still pending: it may yet pay for them); the buyer is told why (unless the
    order is already paid or cancelled: there is nothing to try again).
    A failure after a completion moves no money: NEEDS_REVIEW, finance told.
    """
    payment = _lock(payment)
    order = payment.order
    reason = (reason or "no reason given").strip()[:500]
    if payment.status == Payment.Status.FAILED:
        return Outcome.ignored("payment already failed")
    if payment.status == Payment.Status.NEEDS_REVIEW:
        return Outcome.ignored("payment already needs review; nothing changed")
    if payment.status == Payment.Status.COMPLETED:
        return _needs_review(
            payment,
            note=f"Failure reported after completion ({reason}); the money stays where it is.",
            title="Failure after completion",
            event=event,
        )

    now = timezone.now()
    payment.status = Payment.Status.FAILED
    payment.failed_at = now
    payment.failure_reason = reason
    payment.gateway_id = payment.gateway_id or gateway_id[:64]
    payment.channel = payment.channel or channel[:40]
    payment.save(update_fields=["status", "failed_at", "failure_reason", "gateway_id", "channel", "updated_at"])
    other_attempt_pending = order.payments.filter(status=Payment.Status.PENDING).exclude(pk=payment.pk).exists()
    if order.status == Order.Status.PENDING and not other_attempt_pending:
        order.status = Order.Status.PAYMENT_FAILED
        order.save(update_fields=["status", "updated_at"])
        order.fees.update(status=PlatformFee.Status.REFUNDED, updated_at=now)
        _settle_pending_lines(order, now, booking=Booking.Status.CANCELLED, subscription=Subscription.Status.CANCELLED)
    if order.status in (Order.Status.PAID, Order.Status.CANCELLED):
        return Outcome.processed(f"payment failed; order already {order.get_status_display().lower()}")
    buyer = order.buyer
    notify(
        kind=Notification.Kind.PAYMENT_FAILED,
        dedupe_key=f"payment:{payment.pk}:failed",
        context={
            "name": buyer.get_short_name() or buyer.username,
            "order": order.pk,
            "total": format_money(payment.amount, payment.currency),
            "gateway_message": reason,
        },
        recipient=buyer,
    )
    return Outcome.processed("payment failed")
