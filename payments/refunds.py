"""Refunds to buyers, started by staff (or the storefront): asked for, approved by another person, paid out.

:func:`refund_uncredited_request` does the same for money ClickPesa collected for a payment held
for review that was never credited: approved, it is paid back and the review closes.

:func:`refund_request` records a full or partial refund of a paid order's lines and asks for
approval (revenue.approvals); nothing moves yet. Approving it (:func:`_approved`, registered
from ``PaymentsConfig.ready``) pays it to the buyer's wallet as a refund payout
(revenue.services.refund_payout_create), with each creator's share of it taken from their
balance (or owed, as after a reversal) and Blinno's fee on it given back or kept as
``REFUND_PLATFORM_FEE_POLICY`` says for the reason. A refund of every line in full refunds
the order: order REFUNDED, fee rows refunded, bookings and subscriptions cancelled.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from core.errors import BlinnoError
from core.money import format_money, round_money
from core.notes import append_note
from core.users import User
from revenue import approvals
from revenue.approvals import approval_request
from revenue.models import Approval, PlatformFee
from revenue.services import refund_payout_create, uncredited_refund_payout_create

from .models import Order, OrderLine, Payment, Refund, RefundLine
from .services import order_refunded, payment_review_close, uncredited_refund_returned, uncredited_refund_waiting


class RefundError(BlinnoError):
    code = "refund_refused"


def _refunded_so_far(order: Order) -> dict[int, Decimal]:
    """Per order line, what refunds not rejected already give back."""
    rows = (
        RefundLine.objects.filter(refund__order=order)
        .exclude(refund__status=Refund.Status.REJECTED)
        .values("line_id")
        .annotate(total=Sum("amount"))
    )
    return {row["line_id"]: row["total"] for row in rows}


def _platform_part(line: OrderLine, amount: Decimal, fees: Mapping[tuple[int, str], PlatformFee]) -> Decimal:
    """Blinno's fee on ``amount`` of a line: the fee row's share of its subtotal, to the cent."""
    fee = fees[(line.creator_id, line.transaction_type)]
    return round_money(fee.platform_fee * amount / fee.subtotal)


@transaction.atomic
def refund_request(
    order: Order,
    *,
    lines: Mapping[int, Decimal],
    reason: str,
    note: str,
    by: User,
) -> Refund:
    """Ask to give back ``lines`` (order line id -> amount) of a paid order; another person must approve it.

    Refused (``RefundError``, nothing written) for an order not paid, a line of another order,
    an amount not positive or above what is left of the line after earlier refunds, an unknown
    reason, a missing note, or a buyer without a wallet number.
    """
    locked = Order.objects.select_for_update().select_related("buyer").get(pk=order.pk)
    if locked.status != Order.Status.PAID:
        raise RefundError(
            f"Order #{locked.pk} is {locked.get_status_display()}; only paid orders are refunded.",
            code="order_not_paid",
        )
    if reason not in Refund.Reason.values:
        raise RefundError(f"Unknown refund reason {reason!r}.", code="bad_reason")
    if not note.strip():
        raise RefundError("Say what happened: a note is required.", code="note_required")
    if not lines:
        raise RefundError("Choose at least one line to refund.", code="no_lines")
    order_lines = {line.pk: line for line in locked.lines.all()}
    done = _refunded_so_far(locked)
    for line_id, amount in lines.items():
        line = order_lines.get(line_id)
        if line is None:
            raise RefundError(f"Line {line_id} is not a line of order #{locked.pk}.", code="wrong_line")
        left = line.amount - done.get(line_id, Decimal(0))
        if amount <= 0 or round_money(amount) != amount or amount > left:
            raise RefundError(
                f"Line {line_id} can give back between {format_money(Decimal('0.01'), locked.currency)} and "
                f"{format_money(left, locked.currency)}; {amount} asked.",
                code="bad_amount",
            )
    payment = locked.payments.filter(status=Payment.Status.COMPLETED).first()
    if payment is None:
        raise RefundError(f"Order #{locked.pk} has no completed payment to refund.", code="order_not_paid")
    phone = payment.phone_number or locked.buyer.phone_number
    if not phone:
        raise RefundError("The buyer has no mobile wallet number to pay the refund to.", code="no_wallet")

    fees = {(f.creator_id, f.transaction_type): f for f in PlatformFee.objects.filter(order=locked)}
    give_fee_back = settings.REFUND_PLATFORM_FEE_POLICY.get(reason, "keep") == "refund"
    platform_fee = Decimal(0)
    amount = Decimal(0)
    for line_id, part in lines.items():
        fee_part = _platform_part(order_lines[line_id], part, fees)
        platform_fee += fee_part if give_fee_back else Decimal(0)
        amount += part if give_fee_back else part - fee_part
    if amount <= 0:
        raise RefundError("Nothing would reach the buyer once Blinno's fee is kept.", code="bad_amount")
    refund = Refund.objects.create(
        order=locked,
        payment=payment,
        reason=reason,
        note=note.strip()[:500],
        amount=amount,
        platform_fee_refunded=platform_fee,
        currency=locked.currency,
        phone_number=phone,
        requested_by=by,
    )
    RefundLine.objects.bulk_create(RefundLine(refund=refund, line_id=i, amount=a) for i, a in lines.items())
    _ask_approval(refund, f"Refund #{refund.pk} of order #{locked.pk} to {locked.buyer} ({len(lines)} line(s))", by)
    return refund


def _ask_approval(refund: Refund, summary: str, by: User) -> None:
    """The refund waits for another person's decision (revenue.approvals); approving it runs :func:`_approved`."""
    approval_request(
        Approval.Kind.REFUND,
        amount=refund.amount,
        currency=refund.currency,
        by=by,
        reason=f"{refund.get_reason_display()}: {refund.note}",
        summary=summary,
        subject_type="payments.refund",
        subject_id=refund.pk,
    )


@transaction.atomic
def refund_uncredited_request(payment: Payment, *, collected: Decimal, note: str, by: User) -> Refund:
    """Ask to give back what ClickPesa collected for a payment held for review that was never credited
    (an order paid twice, a cancelled order, another amount); another person must approve it.

    Nothing moves yet, and the payment stays in review until the approval: then the money is paid
    back as a refund payout and the review closes (payment FAILED: nothing was ever credited). If
    that payout comes back, the refund may be asked for again from the FAILED payment.
    While it waits, capturing or dismissing the payment is refused. Refused (``RefundError``)
    for a payment not in review, one captured before (refund through its order), an amount not
    positive, a missing note, a buyer without a wallet number, or a refund already waiting.
    """
    locked = Payment.objects.select_for_update(of=("self",)).select_related("order__buyer").get(pk=payment.pk)
    if locked.status != Payment.Status.NEEDS_REVIEW and not _asked_again(locked):
        raise RefundError(f"Payment {locked.reference} is not waiting for review.", code="not_in_review")
    if locked.completed_at is not None:
        raise RefundError(
            f"Payment {locked.reference} was captured: refund it through order #{locked.order_id}.",
            code="captured_before",
        )
    if uncredited_refund_waiting(locked) is not None:
        raise RefundError(f"A refund of payment {locked.reference} already waits for approval.", code="refund_waiting")
    if not note.strip():
        raise RefundError("Say what happened: a note is required.", code="note_required")
    collected = round_money(collected)
    if collected <= 0:
        raise RefundError("What ClickPesa collected must be more than nothing.", code="bad_amount")
    order = locked.order
    phone = locked.phone_number or order.buyer.phone_number
    if not phone:
        raise RefundError("The buyer has no mobile wallet number to pay the refund to.", code="no_wallet")
    refund = Refund.objects.create(
        order=order,
        payment=locked,
        reason=Refund.Reason.UNCREDITED,
        note=note.strip()[:500],
        amount=collected,
        currency=locked.currency,
        phone_number=phone,
        requested_by=by,
    )
    _ask_approval(refund, f"Refund #{refund.pk} of payment {locked.reference} (never credited) to {order.buyer}", by)
    return refund


def _approved(approval: Approval, by: User) -> str:
    """Pay the refund out to the buyer; a refund of every line in full refunds the order."""
    assert approval.subject_id is not None  # a refund's approval names it
    refund = Refund.objects.select_for_update().select_related("order__buyer").get(pk=approval.subject_id)
    if refund.status != Refund.Status.REQUESTED:
        raise RefundError(f"Refund #{refund.pk} is {refund.get_status_display()}.", code="not_requested")
    if refund.reason == Refund.Reason.UNCREDITED:
        return _uncredited_approved(refund, by)
    order = Order.objects.select_for_update().get(pk=refund.order_id)
    if order.status != Order.Status.PAID:
        raise RefundError(
            f"Order #{order.pk} is {order.get_status_display()} now; nothing to refund.", code="order_not_paid"
        )
    fees = {(f.creator_id, f.transaction_type): f for f in PlatformFee.objects.filter(order=order)}
    give_fee_back = refund.platform_fee_refunded > 0
    shares: dict[int, Decimal] = defaultdict(Decimal)
    held: dict[int, Decimal] = defaultdict(Decimal)
    for refund_line in refund.lines.select_related("line"):
        line = refund_line.line
        share = refund_line.amount - _platform_part(line, refund_line.amount, fees)
        shares[line.creator_id] += share
        if fees[(line.creator_id, line.transaction_type)].released_at is None:
            held[line.creator_id] += share
    # What the buyer gets is the creators' shares plus the fee given back: rounding lands on the fee.
    platform_fee = refund.amount - sum(shares.values(), Decimal(0)) if give_fee_back else Decimal(0)
    payout = refund_payout_create(
        refund.order.buyer,
        amount=refund.amount,
        currency=refund.currency,
        phone_number=refund.phone_number,
        order_id=order.pk,
        payment_id=refund.payment_id,
        shares=shares,
        held=held,
        platform_fee=platform_fee,
        captured_on=timezone.localdate(refund.payment.completed_at),
        by=by,
    )
    Refund.objects.filter(pk=refund.pk).update(status=Refund.Status.APPROVED, payout=payout, updated_at=timezone.now())
    if _refunded_so_far(order) == dict(order.lines.values_list("pk", "amount")):
        order_refunded(order, now=timezone.now())
    return f"refund payout {payout.reference} of {format_money(refund.amount, refund.currency)} submitted"


def _asked_again(payment: Payment, *, besides: Refund | None = None) -> bool:
    """True for a payment whose review closed when its refund was approved and whose refund came back."""
    return payment.status == Payment.Status.FAILED and uncredited_refund_returned(payment, besides=besides) is not None


def _uncredited_approved(refund: Refund, by: User) -> str:
    """Pay back a never-credited payment's collection and close its review (FAILED, with the refund named)."""
    payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
    again = _asked_again(payment, besides=refund)
    if (payment.status != Payment.Status.NEEDS_REVIEW and not again) or payment.completed_at is not None:
        raise RefundError(
            f"Payment {payment.reference} is {payment.get_status_display()} now; nothing to refund.",
            code="not_in_review",
        )
    payout = uncredited_refund_payout_create(
        refund.order.buyer,
        amount=refund.amount,
        currency=refund.currency,
        phone_number=refund.phone_number,
        payment_id=payment.pk,
        payment_reference=payment.reference,
        by=by,
    )
    Refund.objects.filter(pk=refund.pk).update(status=Refund.Status.APPROVED, payout=payout, updated_at=timezone.now())
    paid_back = (
        f"Collected {format_money(refund.amount, refund.currency)}, never credited: refunded by {payout.reference}"
    )
    if again:
        payment.failure_reason = paid_back[:500]
        payment.notes = append_note(payment.notes, f"{paid_back} (by {by}), after the earlier refund came back.")
        payment.save(update_fields=["failure_reason", "notes", "updated_at"])
    else:
        payment_review_close(payment, reason=paid_back, by=by)
    return f"refund payout {payout.reference} of {format_money(refund.amount, refund.currency)} submitted"


def _rejected(approval: Approval, by: User) -> str:
    assert approval.subject_id is not None  # a refund's approval names it
    Refund.objects.filter(pk=approval.subject_id, status=Refund.Status.REQUESTED).update(
        status=Refund.Status.REJECTED, updated_at=timezone.now()
    )
    return f"refund #{approval.subject_id} closed; nothing paid"


def register() -> None:
    """What approving and rejecting a refund does (called from PaymentsConfig.ready)."""
    approvals.register(Approval.Kind.REFUND, approve=_approved, reject=_rejected)
