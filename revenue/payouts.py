"""A payout's life after its request: the one place its status changes (docs/architecture.md's table).

:func:`payout_transition` checks ``Payout.TRANSITIONS``, writes the status with a conditional
UPDATE under the row lock, posts the ledger transaction of the move, moves the fee rows,
records a :class:`PayoutStatusChange` and writes the notifications, all in one transaction.
:func:`payout_apply_gateway_status` turns what ClickPesa reported into such a move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from clickpesa.models import WebhookEvent
from clickpesa.payloads import GatewayStatus, PayoutData
from core.errors import BlinnoError
from core.money import format_money
from core.notes import append_note
from core.results import Result
from core.users import User
from notifications.models import Notification, StorefrontEvent
from notifications.services import Message, notify_many, notify_staff, staff_messages
from notifications.storefront import storefront_event

from .fees import fees_follow_payout
from .models import Payout, PayoutStatusChange
from .postings import post_return, post_settle

NKind = Notification.Kind


class PayoutError(BlinnoError):
    code = "payout_refused"


# What a gateway status means for a payout (docs/clickpesa.md: AUTHORIZED/PROCESSING/PENDING are
# in flight; SUCCESS is done; REFUNDED and REVERSED return the money; FAILED never left).
GATEWAY_TO_PAYOUT: dict[str, Payout.Status] = {
    GatewayStatus.AUTHORIZED: Payout.Status.PROCESSING,
    GatewayStatus.PROCESSING: Payout.Status.PROCESSING,
    GatewayStatus.PENDING: Payout.Status.PROCESSING,
    GatewayStatus.SUCCESS: Payout.Status.PAID,
    GatewayStatus.SETTLED: Payout.Status.PAID,
    GatewayStatus.FAILED: Payout.Status.FAILED,
    GatewayStatus.REFUNDED: Payout.Status.REFUNDED,
    GatewayStatus.REVERSED: Payout.Status.REVERSED,
}


def _amount_matches(payout: Payout, amount: Decimal | None, fee: Decimal | None, currency: str | None) -> bool:
    """ClickPesa's payout amount may include its fee (when the merchant bears it): accept both."""
    if currency and currency != payout.currency:
        return False
    if amount is None:
        return True
    return amount == payout.amount or (fee is not None and amount - fee == payout.amount)


def _creator_context(payout: Payout, **extra: object) -> dict[str, object]:
    creator = payout.creator
    context: dict[str, object] = {
        "name": creator.get_short_name() or creator.username,
        "amount": format_money(payout.amount, payout.currency),
        "destination": payout.destination_label,
        "reference": payout.reference,
        **extra,
    }
    if payout.withholding_tax:
        # The payout notice shows the tax withheld (notifications.texts words it).
        context["withholding_tax"] = format_money(payout.withholding_tax, payout.currency)
        context["gross"] = format_money(payout.gross_amount, payout.currency)
    return context


def payout_lock(**lookup: object) -> Payout | None:
    """The payout matching ``lookup`` (``pk=`` or ``reference=``), its row locked, its creator alongside."""
    return Payout.objects.select_for_update(of=("self",)).select_related("creator").filter(**lookup).first()


@transaction.atomic
def payout_transition(
    payout: Payout,
    target: str,
    *,
    source: str,
    event: WebhookEvent | None = None,
    gateway_id: str = "",
    fee: Decimal | None = None,
    reason: str = "",
    fee_returned: bool = False,
    changed_by: User | None = None,
) -> Result:
    """Move a payout to `target` if ``Payout.TRANSITIONS`` allows it; the one place payouts change.

    Locks the payout row, checks the transition, writes the status with a conditional
    UPDATE (the guard), posts the ledger transaction, updates the fee rows, records a
    PayoutStatusChange and notifies. A transition the table does not allow changes
    nothing and returns a STALE result that says why ("PROCESSING after PAID").
    """
    locked = payout_lock(pk=payout.pk)
    assert locked is not None
    return _transition(
        locked,
        target,
        source=source,
        event=event,
        gateway_id=gateway_id,
        fee=fee,
        reason=reason,
        fee_returned=fee_returned,
        changed_by=changed_by,
    )


def _transition(
    payout: Payout,
    target: str,
    *,
    source: str,
    event: WebhookEvent | None,
    gateway_id: str,
    fee: Decimal | None,
    reason: str,
    fee_returned: bool,
    changed_by: User | None,
) -> Result:
    current = payout.status
    if current == target:
        return Result.unchanged(f"payout already {target}")
    if current not in Payout.TRANSITIONS.get(target, ()):
        return Result.stale(f"{target} after {current}")

    now = timezone.now()
    changes: dict[str, object] = {"status": target, "updated_at": now}
    if gateway_id and not payout.gateway_id:
        changes["gateway_id"] = gateway_id[:64]
    if target == Payout.Status.PROCESSING:
        changes["submitted_at"] = payout.submitted_at or now
    elif target == Payout.Status.PAID:
        changes["paid_at"] = now
        if fee is not None:
            changes["gateway_fee"] = fee
    else:
        changes["returned_at"] = now
        changes["notes"] = append_note(payout.notes, f"{target}: {reason or 'no reason given'}")
        if fee is not None and payout.gateway_fee is None:
            # ClickPesa debited its fee with the payout and credits both back: the statement shows it.
            changes["gateway_fee"] = fee
    updated = Payout.objects.filter(pk=payout.pk, status=current).update(**changes)
    if updated != 1:  # the row is locked above, so only a bug elsewhere can get here
        raise PayoutError(f"Payout {payout.reference} changed under a lock; refusing.", code="guard_failed")
    for field, value in changes.items():
        setattr(payout, field, value)

    fees_follow_payout(payout, now=now)
    if target == Payout.Status.PROCESSING:
        messages = [Message(NKind.PAYOUT_SENT, f"payout:{payout.pk}:sent", _creator_context(payout), payout.creator)]
    elif target == Payout.Status.PAID:
        post_settle(payout)
        messages = [Message(NKind.PAYOUT_PAID, f"payout:{payout.pk}:paid", _creator_context(payout), payout.creator)]
    else:
        post_return(payout, from_status=current, fee_returned=fee_returned)
        context = _creator_context(payout, reason=reason or target.lower())
        messages = [Message(NKind.PAYOUT_RETURNED, f"payout:{payout.pk}:returned", context, payout.creator)]
        if current == Payout.Status.PAID:
            messages += staff_messages(
                kind=NKind.FINANCE_ALERT,
                dedupe_key=f"payout:{payout.pk}:returned-after-paid",
                context={
                    "title": f"Payout {payout.reference} {target.lower()} after it was paid",
                    "detail": f"{format_money(payout.amount, payout.currency)} to {payout.destination_label} "
                    f"came back: {reason or 'no reason given'}. It is back in the creator's available balance.",
                },
                group="Finance",
            )
    if payout.purpose == Payout.Purpose.REFUND:
        messages = _refund_messages(payout, current, target, reason)
    PayoutStatusChange.objects.create(
        payout=payout,
        from_status=current,
        to_status=target,
        source=source,
        webhook_event=event,
        changed_by=changed_by,
        note=(reason or "")[:500],
    )
    notify_many(messages)
    if payout.purpose == Payout.Purpose.CREATOR:  # a refund is Blinno's business with the buyer, not the storefront's
        _tell_storefront(payout, reason=reason)
    return Result.done(f"{current} -> {target}")


def _tell_storefront(payout: Payout, *, reason: str) -> None:
    """Write the storefront's event about the payout's new status: on its way, paid, or returned."""
    if payout.status == Payout.Status.PROCESSING:
        event_type = StorefrontEvent.Type.PAYOUT_PROCESSING
    elif payout.status == Payout.Status.PAID:
        event_type = StorefrontEvent.Type.PAYOUT_PAID
    else:
        event_type = StorefrontEvent.Type.PAYOUT_RETURNED
    storefront_event(
        event_type,
        {
            "payout": {
                "reference": payout.reference,
                "creator": payout.creator.external_id,
                "status": payout.status.lower(),
                "amount": payout.amount,
                "currency": payout.currency,
                "destination": payout.destination_label,
            },
            "reason": reason if event_type == StorefrontEvent.Type.PAYOUT_RETURNED else "",
        },
        dedupe_key=f"payout:{payout.pk}:{payout.status}",
    )


def _refund_messages(payout: Payout, current: str, target: str, reason: str) -> list[Message]:
    """A refund's payout tells the buyer when it arrives, and finance when it came back."""
    if target == Payout.Status.PAID:
        buyer = payout.creator
        context = {
            "name": buyer.get_short_name() or buyer.username,
            "amount": format_money(payout.amount, payout.currency),
            "destination": payout.destination_label,
            "reference": payout.reference,
        }
        return [Message(NKind.REFUND_PAID, f"payout:{payout.pk}:refund-paid", context, buyer)]
    if target in Payout.RETURNED_STATUSES:
        return staff_messages(
            kind=NKind.FINANCE_ALERT,
            dedupe_key=f"payout:{payout.pk}:refund-returned",
            context={
                "title": f"Refund {payout.reference} {target.lower()} (was {current.lower()})",
                "detail": f"{format_money(payout.amount, payout.currency)} to {payout.destination_label} did not "
                f"reach the buyer: {reason or 'no reason given'}. The refund is undone in the ledger; the creators' "
                "shares are back in their balances. Ask for a new refund once the wallet is right.",
            },
            group="Finance",
        )
    return []


@transaction.atomic
def payout_apply_gateway_status(
    payout: Payout,
    status: str | None,
    *,
    source: str,
    event: WebhookEvent | None = None,
    gateway_id: str = "",
    amount: Decimal | None = None,
    fee: Decimal | None = None,
    currency: str | None = None,
    reason: str = "",
    fee_returned: bool = False,
    changed_by: User | None = None,
) -> Result:
    """Apply a status ClickPesa reported (webhook, poll or API answer) to a payout.

    An amount that matches neither the payout nor the payout plus ClickPesa's fee moves no
    money: the payout is flagged for finance and the result says why. So does any report about
    a payout never submitted (no ``submitted_at`` and no submission attempt): ClickPesa cannot
    know it, and settling or returning it would move money that never left.
    """
    locked = payout_lock(pk=payout.pk)
    assert locked is not None
    report = GatewayReport(status, gateway_id, amount, fee, currency, reason, fee_returned)
    return _apply(locked, report, source=source, event=event, changed_by=changed_by)


@transaction.atomic
def payout_event_apply(data: PayoutData, *, event: WebhookEvent) -> Result:
    """Apply a payout event's typed data (a webhook's, or a poll's) to the payout it names, read once, locked."""
    payout = payout_lock(reference=data.order_reference)
    if payout is None:
        # Other ClickPesa products (dashboard payouts) share this URL: acknowledge and keep.
        return Result.not_found(f"no payout with reference {data.order_reference}")
    report = GatewayReport(
        data.status,
        data.gateway_id or "",
        data.amount,
        data.fee,
        data.currency,
        data.reason or "",
        bool(data.reversed_with_fee),
    )
    # A poll's answer comes through here too; the audit trail says which.
    source = (
        PayoutStatusChange.Source.POLL
        if event.source == WebhookEvent.Source.POLL
        else PayoutStatusChange.Source.WEBHOOK
    )
    return _apply(payout, report, source=source, event=event, changed_by=None)


def payout_events_settle(items: Sequence[tuple[WebhookEvent, PayoutData]]) -> dict[int, Result]:
    """Apply many payout events in the caller's transaction (the settler's batch), each as
    :func:`payout_event_apply` does, by event id. An error aborts the batch; the settler then
    applies its events one transaction each."""
    return {event.pk: payout_event_apply(data, event=event) for event, data in items}


@dataclass(frozen=True)
class GatewayReport:
    """What ClickPesa said of a payout: its status, ids, amounts and, for a return, why."""

    status: str | None
    gateway_id: str
    amount: Decimal | None
    fee: Decimal | None
    currency: str | None
    reason: str
    fee_returned: bool


def _apply(
    payout: Payout, report: GatewayReport, *, source: str, event: WebhookEvent | None, changed_by: User | None
) -> Result:
    status = report.status
    target = GATEWAY_TO_PAYOUT.get(status) if status else None
    if status is None or target is None:
        return Result.unchanged(f"payout status {status or 'unknown'} has no effect")
    if payout.submitted_at is None and not payout.submission_attempts:
        # ClickPesa cannot report on a payout it was never sent: only a holder of the checksum key
        # could, and applying it would settle or return money that never left.
        note = f"ClickPesa reported {status} for {payout.reference}, which was never submitted to it. No money moved."
        return _needs_review(payout, note, title="reported before it was submitted", key="not-submitted", event=event)
    if not _amount_matches(payout, report.amount, report.fee, report.currency):
        note = (
            f"ClickPesa reported {status} for {report.currency or payout.currency} {report.amount} "
            f"(fee {report.fee}); the payout is {format_money(payout.amount, payout.currency)}. No money moved."
        )
        return _needs_review(payout, note, title="amount differs", key="amount-mismatch", event=event)
    return _transition(
        payout,
        target,
        source=source,
        event=event,
        gateway_id=report.gateway_id,
        fee=report.fee,
        reason=report.reason,
        fee_returned=report.fee_returned,
        changed_by=changed_by,
    )


def _needs_review(payout: Payout, note: str, *, title: str, key: str, event: WebhookEvent | None) -> Result:
    """Move nothing: flag the payout for finance with ``note``, tell them, and say so in the result."""
    payout.needs_review = True
    payout.notes = append_note(payout.notes, note)
    payout.save(update_fields=["needs_review", "notes", "updated_at"])
    notify_staff(
        kind=NKind.FINANCE_ALERT,
        dedupe_key=f"payout:{payout.pk}:{key}:{event.pk if event else 'direct'}",
        context={"title": f"Payout {payout.reference}: {title}", "detail": note},
    )
    return Result.done(f"needs review: {note}")
