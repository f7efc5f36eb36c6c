"""Orders and payments: an order with its fees, payment attempts, and what ClickPesa reports of them.

``payment_mark_received`` and ``payment_mark_failed`` are docs/architecture.md's handlers 1 and 2;
``payment_event_apply`` applies a webhook's (or a poll's) typed data to the payment it names.
A payment's and an order's status change only in :func:`payment_transition` and
:func:`order_transition`, against their models' ``TRANSITIONS``. Money moves only through
revenue.postings; fee rows are revenue.fees'.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.timezone import localtime

from clickpesa.client import ClickPesaClient, ClickPesaError, credentials_configured
from clickpesa.models import WebhookEvent
from clickpesa.payloads import PAYMENT_FAILED, GatewayStatus, PaymentData
from clickpesa.polling import PollResult
from core.errors import BlinnoError
from core.money import Currency, format_money, round_money
from core.notes import append_note
from core.references import new_reference
from core.results import Result
from core.upsert import update_all
from core.users import User
from notifications.models import Notification, StorefrontEvent
from notifications.services import Message, notify, notify_many, notify_staff, staff_messages
from notifications.storefront import storefront_event
from revenue.fees import Sale, fees_collect_many, fees_open, fees_refund, fees_reopen, processing_fee
from revenue.models import LedgerAccount, LedgerTransaction, Payout, PlatformFee
from revenue.postings import Capture, post_captures, post_reversal, post_shortfall_write_off

from .models import Booking, Order, OrderLine, Payment, Refund, Subscription
from .polling import poll_payment, recheck_next

logger = logging.getLogger(__name__)

SUCCESS_STATUSES = frozenset({GatewayStatus.SUCCESS, GatewayStatus.SETTLED})
IN_PROGRESS_STATUSES = frozenset(
    {GatewayStatus.PENDING, GatewayStatus.PROCESSING, GatewayStatus.ON_HOLD, GatewayStatus.AUTHORIZED}
)
# ClickPesa gave a collected payment back to the buyer: before settlement (REFUNDED) or after.
RETURNED_TO_PAYMENT: dict[str, str] = {
    GatewayStatus.REFUNDED: Payment.Status.REFUNDED,
    GatewayStatus.REVERSED: Payment.Status.REVERSED,
}


PENDING_BOOKING, CANCELLED_BOOKING = Booking.Status.PENDING, Booking.Status.CANCELLED
PENDING_SUB, CANCELLED_SUB = Subscription.Status.PENDING, Subscription.Status.CANCELLED


class PaymentError(BlinnoError):
    code = "payment_refused"


@dataclass(frozen=True)
class LineSpec:
    """One line of an order to be created."""

    creator: User
    transaction_type: str
    amount: Decimal
    description: str = ""
    booking: Booking | None = None
    subscription: Subscription | None = None


@transaction.atomic
def order_create(buyer: User, *, lines: Iterable[LineSpec], currency: str = Currency.TZS) -> Order:
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
    fees_open(
        order.pk,
        sales=[Sale(line.creator.pk, line.transaction_type, line.amount) for line in lines],
        currency=currency,
    )
    return order


def order_transition(order: Order, target: str, *, now: datetime | None = None) -> bool:
    """Move a locked order to ``target`` if ``Order.TRANSITIONS`` allows it; False (nothing changed) otherwise."""
    return bool(orders_transition([order], target, now=now))


def orders_transition(orders: Sequence[Order], target: str, *, now: datetime | None = None) -> list[Order]:
    """Move locked orders to ``target`` where ``Order.TRANSITIONS`` allows it, in one statement; return those moved."""
    moved = [order for order in orders if order.status in Order.TRANSITIONS.get(target, ())]
    for order in moved:
        order.status = target
        order.updated_at = now or timezone.now()
    if moved:
        update_all(moved, ["status", "updated_at"])
    return moved


def payment_transition(payment: Payment, target: str, *, now: datetime, **fields: object) -> None:
    """Move a locked payment to ``target`` with the fields that go with it; raises if the table forbids it."""
    payments_transition([(payment, fields)], target, now=now)


def payments_transition(changes: Sequence[tuple[Payment, Mapping[str, object]]], target: str, *, now: datetime) -> None:
    """Move locked payments to ``target``, each with its fields, in one statement; raises if the table forbids one."""
    for payment, _ in changes:
        if payment.status not in Payment.TRANSITIONS.get(target, ()):
            raise PaymentError(f"Payment {payment.reference} cannot go from {payment.status} to {target}.")
    for payment, fields in changes:
        payment.status = target
        payment.updated_at = now
        for name, value in fields.items():
            setattr(payment, name, value)
    names = {"status", "updated_at"}.union(*(fields for _, fields in changes))
    update_all([payment for payment, _ in changes], sorted(names))


@transaction.atomic
def order_cancel(order: Order) -> Order:
    """Cancel an unpaid order (PENDING or PAYMENT_FAILED): its fee rows and lines are cancelled.

    Refused with ``order_closed`` once paid or already cancelled. A payment still pending at
    ClickPesa that succeeds later moves no money: the capture finds the order cancelled and
    holds the payment for review (``payment_mark_received``).
    """
    order = Order.objects.select_for_update().get(pk=order.pk)
    was = order.status
    if not order_transition(order, Order.Status.CANCELLED):
        raise BlinnoError(
            f"Order #{order.pk} is {order.get_status_display()}; only an unpaid order can be cancelled.",
            code="order_closed",
        )
    if was == Order.Status.PENDING:
        # A failed order's fee rows and lines were cancelled with its payment already.
        fees_refund(order.pk, now=order.updated_at)
        _move_lines(
            [order.pk],
            order.updated_at,
            booking=(PENDING_BOOKING, CANCELLED_BOOKING),
            subscription=(PENDING_SUB, CANCELLED_SUB),
        )
    return order


def payment_start(order: Order, *, phone_number: str = "", method: str = Payment.Method.USSD_PUSH) -> Payment:
    """Open a new payment attempt for the order's total, with a fresh orderReference.

    Allowed while the order is unpaid (PENDING, or PAYMENT_FAILED for a second attempt).
    With a ``phone_number`` (``255XXXXXXXXX``), ClickPesa sends the buyer a USSD push once the
    payment is committed (:func:`payment_push`): right away, in this call, unless the caller
    holds a transaction open, and then when it commits. A push never reaches ClickPesa for a
    payment that was rolled back, so every payment ClickPesa collects is one we have. A card
    or checkout-link payment gets its link from :func:`payment_link_create` after this commits.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order.pk)
        if order.status not in (Order.Status.PENDING, Order.Status.PAYMENT_FAILED):
            raise BlinnoError(
                f"Order #{order.pk} is {order.get_status_display()}; it takes no payment.", code="order_closed"
            )
        if order_transition(order, Order.Status.PENDING):
            # What the failed attempt cancelled, this one may pay for again.
            fees_reopen(order.pk)
            now = timezone.now()
            _move_lines(
                [order.pk], now, booking=(CANCELLED_BOOKING, PENDING_BOOKING), subscription=(CANCELLED_SUB, PENDING_SUB)
            )
        payment = Payment.objects.create(
            order=order,
            reference=new_reference("BLN"),
            amount=order.total,
            currency=order.currency,
            phone_number=phone_number,
            method=method,
        )
        if phone_number:
            transaction.on_commit(partial(payment_push, payment.pk), robust=True)
    payment.refresh_from_db()
    return payment


def payment_link_create(payment: Payment, *, customer_id: str = "") -> Payment:
    """Ask ClickPesa for the page where the buyer pays a card or checkout-link payment; keep the link.

    Called outside any transaction (one HTTP call). A definitive refusal fails the payment as
    a ``PAYMENT FAILED`` would and raises ``PaymentError``; any other ClickPesa error leaves
    the payment PENDING without a link and is raised for the caller to report.
    """
    if not credentials_configured():
        raise PaymentError("ClickPesa credentials are not configured; no payment link.", code="gateway_unavailable")
    try:
        with ClickPesaClient() as client:
            if payment.method == Payment.Method.CARD:
                link = client.initiate_card_payment(
                    amount=payment.amount,
                    currency=payment.currency,
                    order_reference=payment.reference,
                    customer_id=customer_id,
                )
            else:
                link = client.generate_checkout_link(
                    amount=payment.amount,
                    currency=payment.currency,
                    order_reference=payment.reference,
                    description=f"Blinno order #{payment.order_id}",
                )
    except ClickPesaError as exc:
        if exc.definitive:
            with transaction.atomic():
                locked = _lock(Payment.objects.filter(pk=payment.pk))
                assert locked is not None
                _failed(locked, reason=str(exc), gateway_id="", channel="", event=None)
            raise PaymentError(f"ClickPesa refused the payment: {exc}", code="payment_refused") from exc
        raise
    Payment.objects.filter(pk=payment.pk).update(link=link[:500], updated_at=timezone.now())
    payment.refresh_from_db()
    return payment


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
    if not credentials_configured():
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
            locked = _lock(Payment.objects.filter(pk=payment.pk))
            assert locked is not None
            locked.last_error = error
            locked.notes = append_note(locked.notes, f"USSD push failed: {error}")
            locked.save(update_fields=["last_error", "notes", "updated_at"])
            if exc.definitive:
                _failed(locked, reason=str(exc), gateway_id="", channel="", event=None)
        return
    now = timezone.now()
    Payment.objects.filter(pk=payment.pk).update(push_sent_at=now, last_error="", updated_at=now)
    # The webhook may have come first and recorded ClickPesa's ids already.
    Payment.objects.filter(pk=payment.pk, gateway_id="").update(gateway_id=(answer.gateway_id or "")[:64])


def payment_requery(payment: Payment, *, by: User | None = None) -> PollResult:
    """Ask ClickPesa about a payment now and apply its answer as its webhook would be (support's "Re-query").

    The answer is stored as a poll ``WebhookEvent`` (clickpesa.polling), so it shows in the
    audit trail and a late webhook with it changes nothing.
    """
    result = poll_payment(payment, by=by)
    logger.info("payment=%s re-queried by %s: %s", payment.pk, getattr(by, "pk", None) or "system", result.detail)
    return result


def _lock(payments: QuerySet[Payment]) -> Payment | None:
    return _locked(payments).first()


def _locked(payments: QuerySet[Payment]) -> QuerySet[Payment]:
    # The order is locked with its payment: two attempts of one order cannot both capture it.
    # Its buyer (not locked) comes along: every outcome tells the buyer something. Id order,
    # so that a batch and a single delivery cannot deadlock.
    return payments.select_for_update(of=("self", "order")).select_related("order", "order__buyer").order_by("pk")


@transaction.atomic(savepoint=False)
def payment_event_apply(data: PaymentData, *, event: WebhookEvent) -> Result:
    """Apply a payment event's typed data to the payment whose ``reference`` is its ``orderReference``.

    The payment is read once, locked with its order. Unknown reference: not found (another
    ClickPesa product's payment, or one not yet stored; a redelivery tries again).
    ``PAYMENT FAILED`` or status FAILED: handler 2. SUCCESS/SETTLED: handler 1. REFUNDED or
    REVERSED (a query's or a statement's answer): :func:`payment_mark_reversed`. In-progress
    statuses change nothing; an unknown status is ignored with the word kept in the detail.
    """
    payment = _lock(Payment.objects.filter(reference=data.order_reference))
    if payment is None:
        return Result.not_found(f"no payment with reference {data.order_reference!r}")
    if event.event_name == PAYMENT_FAILED or data.status == GatewayStatus.FAILED:
        return _failed(
            payment,
            reason=data.message or "",
            gateway_id=data.gateway_id or "",
            channel=data.channel or "",
            event=event,
        )
    if data.status in SUCCESS_STATUSES and data.amount is not None and data.currency is not None:
        return _received(
            payment,
            amount=data.amount,
            currency=data.currency,
            gateway_id=data.gateway_id or "",
            gateway_reference=data.payment_reference or "",
            channel=data.channel or "",
            event=event,
        )
    if data.status in RETURNED_TO_PAYMENT:
        return _reversed(
            payment,
            status=data.status,
            amount=data.amount,
            charges=data.charges or Decimal(0),
            reason=data.message or "",
            event=event,
        )
    if data.status in IN_PROGRESS_STATUSES:
        return Result.unchanged(f"status {data.raw_status} recorded; no money change")
    return Result.unchanged(f"unknown payment status {data.raw_status!r}; nothing changed")


def payment_events_settle(items: Sequence[tuple[WebhookEvent, PaymentData]]) -> dict[int, Result]:
    """Settle many payment events in the caller's transaction (the settler's batch); return results by event id.

    Every payment named is read once, locked with its order, in one statement (in id order).
    Plain captures (a success for a PENDING payment of a PENDING order, amount and currency as
    expected) are made together by :func:`_capture`; plain failures of PENDING payments by
    handler 2. One event per order: a second attempt's report, a payment not found, a conflict,
    a mismatch, an in-progress or unknown status are left out of the answer, for
    :func:`payment_event_apply` one by one.
    """
    payments = {
        payment.reference: payment
        for payment in _locked(Payment.objects.filter(reference__in={data.order_reference for _, data in items}))
    }
    results: dict[int, Result] = {}
    collections: list[Collection] = []
    orders: set[int] = set()
    for event, data in items:
        payment = payments.get(data.order_reference)
        if payment is None or payment.status != Payment.Status.PENDING or payment.order_id in orders:
            continue
        if event.event_name == PAYMENT_FAILED or data.status == GatewayStatus.FAILED:
            orders.add(payment.order_id)
            reason, gateway_id, channel = data.message or "", data.gateway_id or "", data.channel or ""
            results[event.pk] = _failed(payment, reason=reason, gateway_id=gateway_id, channel=channel, event=event)
        elif (
            data.status in SUCCESS_STATUSES
            and (data.amount, data.currency) == (payment.amount, payment.currency)
            and payment.order.status == Order.Status.PENDING
        ):
            orders.add(payment.order_id)
            gateway_id, gateway_reference = data.gateway_id or "", data.payment_reference or ""
            collections.append(Collection(payment, gateway_id, gateway_reference, data.channel or ""))
            results[event.pk] = Result.done("payment captured")
    if collections:
        _capture(collections)
    return results


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
    event: WebhookEvent | None = None,
) -> Result:
    """Apply "money collected" to a payment (handler 1), once.

    On a PENDING payment whose amount and currency match: payment COMPLETED, order PAID,
    bookings CONFIRMED, subscriptions ACTIVE, fee rows COLLECTED, one PAYMENT_CAPTURE
    ledger transaction, a sale notice to each creator and a receipt to the buyer.
    A mismatch, or success after a failure, or a second paid attempt of one order, or a
    payment for a cancelled order, moves no money: the payment goes to NEEDS_REVIEW and
    finance is told.
    """
    locked = _lock(Payment.objects.filter(pk=payment.pk))
    assert locked is not None
    return _received(
        locked,
        amount=amount,
        currency=currency,
        gateway_id=gateway_id,
        gateway_reference=gateway_reference,
        channel=channel,
        event=event,
    )


@transaction.atomic(savepoint=False)  # as payment_mark_received
def payment_mark_failed(
    payment: Payment,
    *,
    reason: str = "",
    gateway_id: str = "",
    channel: str = "",
    event: WebhookEvent | None = None,
) -> Result:
    """Apply "payment failed" (handler 2), once. No ledger movement.

    A PENDING payment becomes FAILED with the gateway's reason; its order PAYMENT_FAILED,
    fee rows REFUNDED, bookings and subscriptions CANCELLED (unless another attempt of the
    order is still pending: it may yet pay for them); the buyer is told why (unless the
    order is already paid or cancelled: there is nothing to try again).
    A failure after a completion moves no money: NEEDS_REVIEW, finance told.
    """
    locked = _lock(Payment.objects.filter(pk=payment.pk))
    assert locked is not None
    return _failed(locked, reason=reason, gateway_id=gateway_id, channel=channel, event=event)


@transaction.atomic(savepoint=False)  # as payment_mark_received
def payment_mark_reversed(
    payment: Payment,
    *,
    status: str,
    amount: Decimal | None = None,
    charges: Decimal = Decimal(0),
    reason: str = "",
    event: WebhookEvent | None = None,
) -> Result:
    """Apply "ClickPesa gave the payment back to the buyer" (``REFUNDED`` or ``REVERSED``), once.

    On a COMPLETED payment: payment REFUNDED/REVERSED, order REFUNDED, fee rows REFUNDED,
    bookings and subscriptions CANCELLED, one PAYMENT_REVERSAL ledger transaction (a creator
    whose balance no longer covers their share owes the rest: revenue.postings.post_reversal),
    and the buyer, each creator and finance told. A repeat (the poller and the statement both
    see it) changes nothing. A reversal of a payment we never captured, or of another amount,
    moves no money: NEEDS_REVIEW, finance told.
    """
    locked = _lock(Payment.objects.filter(pk=payment.pk))
    assert locked is not None
    return _reversed(locked, status=status, amount=amount, charges=charges, reason=reason, event=event)


def _reversed(
    payment: Payment,
    *,
    status: str,
    amount: Decimal | None,
    charges: Decimal,
    reason: str,
    event: WebhookEvent | None,
) -> Result:
    target = RETURNED_TO_PAYMENT[status]
    word = target.lower()
    if payment.status in RETURNED_TO_PAYMENT.values():
        return Result.unchanged(f"payment already {payment.status.lower()}")
    if payment.status == Payment.Status.NEEDS_REVIEW:
        return Result.unchanged(f"payment already needs review; ClickPesa now says {status}")
    if payment.status != Payment.Status.COMPLETED:
        return _needs_review(
            payment,
            note=f"ClickPesa says {status} for a payment we never captured ({payment.get_status_display()}); "
            "nothing moved.",
            title=f"Payment {word} before capture",
            event=event,
        )
    if amount is not None and amount != payment.amount:
        return _needs_review(
            payment,
            note=f"ClickPesa says {status} for {format_money(amount, payment.currency)}; we captured "
            f"{format_money(payment.amount, payment.currency)}. Nothing moved.",
            title=f"Payment {word} for another amount",
            event=event,
        )

    order = payment.order
    # A refund of another, never-credited payment of the order took nothing from the creators: it does not count.
    refunded = list(
        order.refunds.filter(status=Refund.Status.APPROVED)
        .exclude(reason=Refund.Reason.UNCREDITED)
        .values_list("pk", flat=True)
    )
    if refunded:
        # Blinno already paid the buyer back (part of) this order; taking the creators' shares again would
        # charge them twice for one buyer. The buyer may have been paid twice: a person decides.
        return _needs_review(
            payment,
            note=f"ClickPesa says {status} after Blinno's refund(s) {refunded} of order #{order.pk}; nothing moved.",
            title=f"Payment {word} after a refund",
            event=event,
        )
    now = timezone.now()
    why = reason.strip()[:200] or "no reason given"
    payment_transition(
        payment,
        target,
        now=now,
        reversed_at=now,
        reversal_charges=charges or None,
        next_recheck_at=None,
        notes=append_note(payment.notes, f"{target} by ClickPesa: {why}"),
    )
    fees = list(PlatformFee.objects.filter(order_id=order.pk).select_related("creator"))
    # The creators' accounts are locked (receivable first) before their fee rows are touched, as a
    # payout request does: the other order could deadlock with a request attaching those rows.
    txn = post_reversal(
        payment_id=payment.pk,
        reference=payment.reference,
        order_id=order.pk,
        currency=payment.currency,
        total=payment.amount,
        processing_fee=order.processing_fee,
        fees=fees,
        charges=charges,
        why=f"{word} by ClickPesa: {why}",
    )
    order_refunded(order, now=now)
    _notify_reversal(payment, order, fees, txn, charges=charges, why=why)
    return Result.done(f"payment {word}: capture undone")


def order_refunded(order: Order, *, now: datetime) -> None:
    """A locked PAID order given back in full (a reversal, or refunds of every line): order REFUNDED,
    fee rows refunded, bookings and subscriptions cancelled."""
    order_transition(order, Order.Status.REFUNDED, now=now)
    fees_refund(order.pk, now=now)
    _move_lines(
        [order.pk],
        now,
        booking=(Booking.Status.CONFIRMED, CANCELLED_BOOKING),
        subscription=(Subscription.Status.ACTIVE, CANCELLED_SUB),
    )


def _notify_reversal(
    payment: Payment, order: Order, fees: list[PlatformFee], txn: LedgerTransaction, *, charges: Decimal, why: str
) -> None:
    """The buyer, each creator (with what they now owe, if anything) and finance, in one outbox write."""
    cur = payment.currency
    owed = dict(
        txn.entries.filter(account__kind=LedgerAccount.Kind.CREATOR_RECEIVABLE).values_list(
            "account__creator_id", "amount"
        )
    )
    shares: dict[int, list[PlatformFee]] = defaultdict(list)
    for fee in fees:
        shares[fee.creator_id].append(fee)
    buyer = order.buyer
    messages = [
        Message(
            Notification.Kind.PAYMENT_REVERSED,
            f"payment:{payment.pk}:reversed",
            {
                "name": buyer.get_short_name() or buyer.username,
                "order": order.pk,
                "total": format_money(payment.amount, cur),
                "reference": payment.reference,
            },
            recipient=buyer,
        )
    ]
    for creator_id, rows in shares.items():
        creator = rows[0].creator
        messages.append(
            Message(
                Notification.Kind.SALE_REVERSED,
                f"payment:{payment.pk}:sale-reversed:{creator_id}",
                {
                    "name": creator.get_short_name() or creator.username,
                    "order": order.pk,
                    "amount": format_money(sum((f.creator_amount for f in rows), Decimal(0)), cur),
                    "owed": format_money(owed[creator_id], cur) if creator_id in owed else "",
                },
                recipient=creator,
            )
        )
    owing = ", ".join(f"creator #{c} owes {format_money(a, cur)}" for c, a in sorted(owed.items()))
    messages += staff_messages(
        kind=Notification.Kind.FINANCE_ALERT,
        dedupe_key=f"payment:{payment.pk}:reversed-alert",
        context={
            "title": f"Payment {payment.reference} {payment.status.lower()} by ClickPesa",
            "detail": f"{format_money(payment.amount, cur)} for order #{order.pk} went back to the buyer ({why})."
            + (f" ClickPesa kept {format_money(charges, cur)} in charges." if charges else "")
            + (f" Receivables opened: {owing}." if owing else " Every creator's share came out of their balance."),
        },
        group="Finance",
    )
    notify_many(messages)


def _needs_review(payment: Payment, *, note: str, title: str, event: WebhookEvent | None) -> Result:
    """Park a payment for finance: no money moves, the reason is kept, finance is told."""
    payment_transition(payment, Payment.Status.NEEDS_REVIEW, now=timezone.now(), notes=append_note(payment.notes, note))
    notify_staff(
        kind=Notification.Kind.FINANCE_ALERT,
        dedupe_key=f"payment:{payment.pk}:review:{event.pk if event else 'direct'}",
        context={"title": f"{title}: payment {payment.reference}", "detail": note},
    )
    _tell_storefront(StorefrontEvent.Type.ORDER_HELD_FOR_REVIEW, payment, reason=title)
    return Result.done(f"needs review: {note}")


def _received(
    payment: Payment,
    *,
    amount: Decimal,
    currency: str,
    gateway_id: str,
    gateway_reference: str,
    channel: str,
    event: WebhookEvent | None,
) -> Result:
    order = payment.order
    collected = format_money(amount, currency)
    if payment.status == Payment.Status.COMPLETED:
        return Result.unchanged("payment already completed")
    if payment.status == Payment.Status.NEEDS_REVIEW:
        return Result.unchanged("payment already needs review; nothing changed")
    if payment.status == Payment.Status.FAILED:
        return _needs_review(
            payment,
            note=f"Success reported after failure ({payment.failure_reason or 'no reason'}): "
            f"{collected} collected; nothing credited.",
            title="Success after failure",
            event=event,
        )
    if amount != payment.amount or currency != payment.currency:
        return _needs_review(
            payment,
            note=f"Amount differs: expected {format_money(payment.amount, payment.currency)}, "
            f"ClickPesa collected {collected}; nothing credited.",
            title="Collected amount differs",
            event=event,
        )
    if order.status == Order.Status.CANCELLED:
        return _needs_review(
            payment,
            note=f"Order #{order.pk} was cancelled; {collected} collected; nothing credited.",
            title="Payment for a cancelled order",
            event=event,
        )
    if order.status == Order.Status.PAID:
        return _needs_review(
            payment,
            note=f"Order #{order.pk} was already paid by another attempt; {collected} collected twice; "
            "nothing credited.",
            title="Order paid twice",
            event=event,
        )

    _capture([Collection(payment, gateway_id, gateway_reference, channel)])
    return Result.done("payment captured")


@dataclass(frozen=True)
class Collection:
    """A locked PENDING payment of a PENDING order that ClickPesa collected in full, and its ids there."""

    payment: Payment
    gateway_id: str
    gateway_reference: str
    channel: str


def _capture(collections: Sequence[Collection]) -> None:
    """Handler 1's changes for payments already checked, in a few statements whatever their number.

    Payments COMPLETED, orders PAID, bookings CONFIRMED, subscriptions ACTIVE, fee rows
    COLLECTED, one PAYMENT_CAPTURE per payment (revenue.postings.post_captures), a sale
    notice to each creator and a receipt to each buyer. A webhook settled in its request
    captures one payment through here, a settler's batch many: the rows are the same.
    """
    now = timezone.now()
    payments_transition(
        [
            (
                c.payment,
                {
                    "completed_at": now,
                    "next_recheck_at": recheck_next(now, after=now),
                    # A capture after review keeps the ids an earlier report recorded.
                    "gateway_id": (c.gateway_id or c.payment.gateway_id)[:64],
                    "gateway_reference": (c.gateway_reference or c.payment.gateway_reference)[:64],
                    "channel": (c.channel or c.payment.channel)[:40],
                },
            )
            for c in collections
        ],
        Payment.Status.COMPLETED,
        now=now,
    )
    orders = [c.payment.order for c in collections]
    orders_transition(orders, Order.Status.PAID, now=now)
    _move_lines(
        [order.pk for order in orders],
        now,
        booking=(PENDING_BOOKING, Booking.Status.CONFIRMED),
        subscription=(PENDING_SUB, Subscription.Status.ACTIVE),
    )

    hold_days = settings.EARNINGS_HOLD_DAYS
    hold_until = now + timedelta(days=hold_days) if hold_days > 0 else None
    fees = fees_collect_many([order.pk for order in orders], now=now, hold_until=hold_until)
    earnings_kind = LedgerAccount.Kind.CREATOR_PENDING if hold_until else LedgerAccount.Kind.CREATOR_AVAILABLE
    post_captures(
        [
            Capture(
                payment_id=c.payment.pk,
                reference=c.payment.reference,
                order_id=c.payment.order.pk,
                currency=c.payment.order.currency,
                total=c.payment.amount,
                processing_fee=c.payment.order.processing_fee,
                fees=fees[c.payment.order.pk],
                earnings_kind=earnings_kind,
            )
            for c in collections
        ]
    )
    notify_many(
        message
        for c in collections
        for message in _capture_messages(c.payment, c.payment.order, fees[c.payment.order.pk], hold_until)
    )
    for c in collections:
        _tell_storefront(StorefrontEvent.Type.ORDER_PAID, c.payment)


# --- Review: finance's resolutions of a payment parked in NEEDS_REVIEW --------------------


def _lock_for_review(payment: Payment) -> Payment:
    locked = _lock(Payment.objects.filter(pk=payment.pk))
    assert locked is not None
    if locked.status != Payment.Status.NEEDS_REVIEW:
        raise PaymentError(
            f"Payment {locked.reference} is {locked.get_status_display()}, not waiting for review.",
            code="not_in_review",
        )
    waiting = uncredited_refund_waiting(locked)
    if waiting is not None:
        raise PaymentError(
            f"Refund #{waiting.pk} of payment {locked.reference} waits for approval: approve or reject it first.",
            code="refund_waiting",
        )
    return locked


def uncredited_refund_waiting(payment: Payment) -> Refund | None:
    """The refund of this never-credited payment waiting for approval (payments.refunds), if any."""
    return Refund.objects.filter(
        payment=payment, reason=Refund.Reason.UNCREDITED, status=Refund.Status.REQUESTED
    ).first()


def uncredited_refund_returned(payment: Payment, *, besides: Refund | None = None) -> Refund | None:
    """The approved refund of this never-credited payment whose payout came back (the money is at ClickPesa
    again, unbooked), when it is the payment's last such refund (``besides`` a new one being decided): it may
    be asked for again."""
    refunds = Refund.objects.filter(payment=payment, reason=Refund.Reason.UNCREDITED).exclude(
        status=Refund.Status.REJECTED
    )
    if besides is not None:
        refunds = refunds.exclude(pk=besides.pk)
    last = refunds.select_related("payout").order_by("-pk").first()
    if last is None or last.payout is None or last.payout.status not in Payout.RETURNED_STATUSES:
        return None
    return last


def payment_review_close(payment: Payment, *, reason: str, by: User) -> None:
    """Close the review of a locked payment never captured, as FAILED with ``reason`` (nothing was credited)."""
    now = timezone.now()
    note = append_note(payment.notes, f"Review closed by {by}: {reason}")
    payment_transition(payment, Payment.Status.FAILED, now=now, failed_at=now, notes=note, failure_reason=reason[:500])


@transaction.atomic
def payment_review_capture(payment: Payment, *, collected: Decimal, by: User) -> str:
    """Capture a payment held for review as collected: ``collected`` is what ClickPesa took.

    The order is paid and credited in full, as any capture (PAYMENT_CAPTURE); when ClickPesa
    collected less, the shortfall is written off in the same transaction (Dr collection
    write-offs, Cr gateway cash: ``payment:<id>:shortfall``), so gateway cash holds what arrived.
    Refused when the payment was captured before, its order is not PENDING (paid by another
    attempt, cancelled, failed: dismiss it instead), or ``collected`` is not between zero and
    the amount due. Returns the one-sentence report.
    """
    payment = _lock_for_review(payment)
    order = payment.order
    due = payment.amount
    if payment.completed_at is not None:
        raise PaymentError(
            f"Payment {payment.reference} was captured before; dismiss the review instead.", code="captured_before"
        )
    if order.status != Order.Status.PENDING:
        raise PaymentError(
            f"Order #{order.pk} is {order.get_status_display()}: nothing to capture into; dismiss the review "
            "(and refund the buyer at ClickPesa if they paid).",
            code="order_closed",
        )
    collected = round_money(collected)
    if not Decimal(0) < collected <= due:
        raise PaymentError(
            f"What ClickPesa collected must be more than nothing and at most {format_money(due, payment.currency)}; "
            "more than due goes back to the buyer as a refund.",
            code="bad_amount",
        )
    _capture([Collection(payment, "", "", "")])
    shortfall = due - collected
    report = f"Payment {payment.reference} captured: order #{order.pk} paid, creators credited in full"
    if shortfall:
        post_shortfall_write_off(
            payment_id=payment.pk, reference=payment.reference, currency=payment.currency, shortfall=shortfall, by=by
        )
        report += (
            f"; ClickPesa collected {format_money(collected, payment.currency)}, the shortfall of "
            f"{format_money(shortfall, payment.currency)} written off to collection write-offs"
        )
    payment.notes = append_note(payment.notes, f"Review: {report} (by {by}).")
    payment.save(update_fields=["notes", "updated_at"])
    return report + "."


@transaction.atomic
def payment_review_dismiss(payment: Payment, *, reason: str, by: User) -> str:
    """Close a review without moving money: a payment captured before goes back to COMPLETED
    (its capture stands), any other to FAILED with the reason. Returns the one-sentence report."""
    if not reason.strip():
        raise PaymentError("A reason is required to dismiss a review.", code="reason_required")
    payment = _lock_for_review(payment)
    now = timezone.now()
    note = append_note(payment.notes, f"Review dismissed by {by}: {reason.strip()}")
    if payment.completed_at is not None:
        payment_transition(payment, Payment.Status.COMPLETED, now=now, notes=note)
        return f"Review of payment {payment.reference} dismissed: it stays captured; no money moved."
    payment_transition(
        payment, Payment.Status.FAILED, now=now, failed_at=now, notes=note, failure_reason=f"Dismissed: {reason}"[:500]
    )
    return f"Review of payment {payment.reference} dismissed: marked failed; no money moved."


def _tell_storefront(event_type: str, payment: Payment, **extra: object) -> None:
    """Write the storefront's event about this payment's order, in this transaction (notifications.storefront)."""
    order = payment.order
    storefront_event(
        event_type,
        {
            "order": {
                "id": order.pk,
                "status": order.status.lower(),
                "buyer": order.buyer.external_id,
                "currency": order.currency,
                "total": order.total,
            },
            "payment": {
                "reference": payment.reference,
                "method": payment.method.lower(),
                "status": payment.status.lower(),
                "amount": payment.amount,
                "channel": payment.channel,
            },
            **extra,
        },
        dedupe_key=f"payment:{payment.pk}:{event_type}",
    )


def _move_lines(
    order_ids: Sequence[int], now: datetime, *, booking: tuple[str, str], subscription: tuple[str, str]
) -> None:
    """Move the orders' bookings and subscriptions from one status to another, each a (from, to) pair.

    One statement (most orders sell neither, and then it only reads their lines). An ACTIVE
    subscription starts now.
    """
    started = subscription[1] == Subscription.Status.ACTIVE
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH line AS (
                SELECT booking_id, subscription_id FROM {OrderLine._meta.db_table}
                 WHERE order_id = ANY(%(orders)s) AND (booking_id IS NOT NULL OR subscription_id IS NOT NULL)
            ), booking AS (
                UPDATE {Booking._meta.db_table} SET status = %(booking_to)s, updated_at = %(now)s
                 WHERE id IN (SELECT booking_id FROM line) AND status = %(booking_from)s RETURNING 1
            ), subscription AS (
                UPDATE {Subscription._meta.db_table}
                   SET status = %(subscription_to)s, updated_at = %(now)s,
                       started_at = CASE WHEN %(started)s THEN %(now)s ELSE started_at END
                 WHERE id IN (SELECT subscription_id FROM line) AND status = %(subscription_from)s RETURNING 1
            )
            SELECT (SELECT count(*) FROM booking), (SELECT count(*) FROM subscription)
            """,  # noqa: S608 - table names from the models
            {
                "orders": list(order_ids),
                "now": now,
                "started": started,
                "booking_from": booking[0],
                "booking_to": booking[1],
                "subscription_from": subscription[0],
                "subscription_to": subscription[1],
            },
        )


def _capture_messages(
    payment: Payment, order: Order, fees: Sequence[PlatformFee], hold_until: datetime | None
) -> list[Message]:
    """A sale notice to each creator of a captured order and a receipt to its buyer."""
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
    return messages


def _failed(payment: Payment, *, reason: str, gateway_id: str, channel: str, event: WebhookEvent | None) -> Result:
    order = payment.order
    reason = (reason or "no reason given").strip()[:500]
    if payment.status == Payment.Status.FAILED:
        return Result.unchanged("payment already failed")
    if payment.status == Payment.Status.NEEDS_REVIEW:
        return Result.unchanged("payment already needs review; nothing changed")
    if payment.status == Payment.Status.COMPLETED:
        return _needs_review(
            payment,
            note=f"Failure reported after completion ({reason}); the money stays where it is.",
            title="Failure after completion",
            event=event,
        )

    now = timezone.now()
    payment_transition(
        payment,
        Payment.Status.FAILED,
        now=now,
        failed_at=now,
        failure_reason=reason,
        gateway_id=payment.gateway_id or gateway_id[:64],
        channel=payment.channel or channel[:40],
    )
    other_attempt_pending = order.payments.filter(status=Payment.Status.PENDING).exclude(pk=payment.pk).exists()
    if not other_attempt_pending and order_transition(order, Order.Status.PAYMENT_FAILED, now=now):
        fees_refund(order.pk, now=now)
        cancelled = {"booking": (PENDING_BOOKING, CANCELLED_BOOKING), "subscription": (PENDING_SUB, CANCELLED_SUB)}
        _move_lines([order.pk], now, **cancelled)
    if order.status in (Order.Status.PAID, Order.Status.CANCELLED):
        return Result.done(f"payment failed; order already {order.get_status_display().lower()}")
    if order.status == Order.Status.PAYMENT_FAILED:
        _tell_storefront(StorefrontEvent.Type.ORDER_PAYMENT_FAILED, payment, reason=reason)
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
    return Result.done("payment failed")
