"""Revenue services: creator balances and payouts. Money moves only through revenue.ledger."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from blinno.exceptions import BlinnoError
from clickpesa.outcome import Outcome
from clickpesa.payloads import GatewayStatus
from clickpesa.polling import PollResult, poll_payout
from notifications.models import Notification
from notifications.services import Message, notify_many, notify_staff, staff_messages
from payments.models import Payment
from payments.services import new_reference

from .ledger import LedgerError, account_book, credit, debit, ledger_post
from .models import (
    Deposit,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payout,
    PayoutMethod,
    PayoutStatusChange,
    PlatformFee,
)
from .money import Currency, format_money

logger = logging.getLogger(__name__)

Kind = LedgerAccount.Kind
NKind = Notification.Kind


class PayoutError(BlinnoError):
    code = "payout_refused"


def creator_accounts_ensure(creator: object, *, currency: str = Currency.TZS) -> None:
    """Create the creator's pending, available and in-flight accounts, so a row exists to lock."""
    account_book(currency, creator_ids=[creator.pk])


@dataclass(frozen=True)
class CreatorBalance:
    currency: str
    pending: Decimal
    available: Decimal
    in_flight: Decimal
    earned: Decimal
    paid_out: Decimal


def creator_balance(creator: object, *, currency: str = Currency.TZS) -> CreatorBalance:
    """A creator's money: held (pending), available to pay out, in flight, and lifetime totals.

    `earned` is every capture credited to the creator; `paid_out` the payouts now PAID.
    """
    balances = dict(LedgerAccount.objects.filter(creator=creator, currency=currency).values_list("kind", "balance"))
    earned = LedgerEntry.objects.filter(
        account__creator=creator,
        account__currency=currency,
        direction=LedgerEntry.Direction.CREDIT,
        transaction__kind=LedgerTransaction.Kind.PAYMENT_CAPTURE,
    ).aggregate(total=Sum("amount", default=Decimal(0)))["total"]
    paid_out = Payout.objects.filter(creator=creator, currency=currency, status=Payout.Status.PAID).aggregate(
        total=Sum("amount", default=Decimal(0))
    )["total"]
    zero = Decimal("0.00")
    return CreatorBalance(
        currency=currency,
        pending=balances.get(Kind.CREATOR_PENDING, zero),
        available=balances.get(Kind.CREATOR_AVAILABLE, zero),
        in_flight=balances.get(Kind.CREATOR_PAYOUT_IN_FLIGHT, zero),
        earned=earned,
        paid_out=paid_out,
    )


def _default_method(creator: object) -> PayoutMethod:
    method = PayoutMethod.objects.filter(creator=creator, is_default=True).first()
    if method is None:
        raise PayoutError(f"{creator} has no default payout method.", code="no_payout_method")
    return method


def _reserve(
    creator: object,
    *,
    amount: Decimal,
    currency: str,
    method: PayoutMethod,
    requested_by: object | None,
    retry_of: Payout | None = None,
    note: str = "",
) -> Payout:
    """Create a PENDING payout and move `amount` from available to in flight (caller holds the lock)."""
    payout = Payout.objects.create(
        creator=creator,
        reference=new_reference("BLNPO"),
        amount=amount,
        currency=currency,
        method=method,
        method_kind=method.kind,
        method_snapshot=method.snapshot(),
        requested_by=requested_by,
        retry_of=retry_of,
    )
    book = account_book(currency, creator_ids=[creator.pk])
    ledger_post(
        kind=LedgerTransaction.Kind.PAYOUT_RESERVE,
        idempotency_key=f"payout:{payout.pk}:reserve",
        postings=[
            debit(book.creator(creator.pk, Kind.CREATOR_AVAILABLE), amount),
            credit(book.creator(creator.pk, Kind.CREATOR_PAYOUT_IN_FLIGHT), amount),
        ],
        memo=f"Payout {payout.reference} requested",
        payout=payout,
        posted_by=requested_by,
    )
    PlatformFee.objects.filter(
        creator=creator,
        currency=currency,
        status=PlatformFee.Status.COLLECTED,
        released_at__isnull=False,
        payout__isnull=True,
    ).update(payout=payout, payout_status=PlatformFee.PayoutStatus.PENDING)
    PayoutStatusChange.objects.create(
        payout=payout,
        from_status="",
        to_status=Payout.Status.PENDING,
        source=PayoutStatusChange.Source.ADMIN if requested_by else PayoutStatusChange.Source.SYSTEM,
        changed_by=requested_by,
        note=note or f"Requested: {format_money(amount, currency)} to {payout.destination_label}",
    )
    from .submission import payout_submit_enqueue  # submission imports this module

    # Submitted to ClickPesa once the reserve is committed; the sweeper catches a lost task.
    transaction.on_commit(partial(payout_submit_enqueue, payout.pk), robust=True)
    return payout


def _lock_available(creator: object, currency: str) -> LedgerAccount:
    account_book(currency, creator_ids=[creator.pk])
    return LedgerAccount.objects.select_for_update().get(
        creator=creator, kind=Kind.CREATOR_AVAILABLE, currency=currency
    )


@transaction.atomic
def payout_request(
    creator: object,
    *,
    requested_by: object | None = None,
    currency: str = Currency.TZS,
    method: PayoutMethod | None = None,
) -> Payout:
    """Reserve the creator's whole available balance into a new PENDING payout.

    Refused when nothing is available or the balance is below settings.PAYOUT_MINIMUM.
    The creator's available account is locked first, so two concurrent requests cannot
    both reserve the same money: the second sees the balance the first left.
    """
    available = _lock_available(creator, currency)
    minimum = settings.PAYOUT_MINIMUM.get(currency, Decimal(0))
    if available.balance <= 0:
        raise PayoutError("Nothing is available to pay out.", code="nothing_available")
    if available.balance < minimum:
        raise PayoutError(
            f"Available {format_money(available.balance, currency)} is below the payout minimum "
            f"of {format_money(minimum, currency)}.",
            code="below_minimum",
        )
    return _reserve(
        creator,
        amount=available.balance,
        currency=currency,
        method=method or _default_method(creator),
        requested_by=requested_by,
    )


# --- Payout lifecycle -------------------------------------------------------------------

# What a gateway status means for a payout (PROTOCOL.md: AUTHORIZED/PROCESSING/PENDING are
# in flight; SUCCESS is done; REFUNDED and REVERSED return the money; FAILED never left).
GATEWAY_TO_PAYOUT = {
    GatewayStatus.AUTHORIZED: Payout.Status.PROCESSING,
    GatewayStatus.PROCESSING: Payout.Status.PROCESSING,
    GatewayStatus.PENDING: Payout.Status.PROCESSING,
    GatewayStatus.SUCCESS: Payout.Status.PAID,
    GatewayStatus.SETTLED: Payout.Status.PAID,
    GatewayStatus.FAILED: Payout.Status.FAILED,
    GatewayStatus.REFUNDED: Payout.Status.REFUNDED,
    GatewayStatus.REVERSED: Payout.Status.REVERSED,
}


def _append_note(existing: str, note: str) -> str:
    stamp = timezone.now().strftime("%Y-%m-%d %H:%M UTC")
    return f"{existing}\n[{stamp}] {note}".strip()


def _amount_matches(payout: Payout, amount: Decimal | None, fee: Decimal | None, currency: str | None) -> bool:
    """ClickPesa's payout amount may include its fee (when the merchant bears it): accept both."""
    if currency and currency != payout.currency:
        return False
    if amount is None:
        return True
    return amount == payout.amount or (fee is not None and amount - fee == payout.amount)


def _creator_context(payout: Payout, **extra: object) -> dict[str, object]:
    creator = payout.creator
    return {
        "name": creator.get_short_name() or creator.username,
        "amount": format_money(payout.amount, payout.currency),
        "destination": payout.destination_label,
        "reference": payout.reference,
        **extra,
    }


def _post_return(payout: Payout, *, from_status: str, fee_returned: bool) -> None:
    """Give the money back to the creator's available balance: one PAYOUT_RETURN per payout.

    Before payment it leaves the in-flight account; after payment it comes back into
    gateway cash (ClickPesa returned it to our balance). The key is the same whichever
    return event comes first, so a second one can never post again.
    """
    book = account_book(
        payout.currency,
        creator_ids=[payout.creator_id],
        platform_kinds=[Kind.GATEWAY_CASH, Kind.PAYOUT_FEES],
    )
    available = book.creator(payout.creator_id, Kind.CREATOR_AVAILABLE)
    if from_status == Payout.Status.PAID:
        postings = [debit(book.platform(Kind.GATEWAY_CASH), payout.amount), credit(available, payout.amount)]
        if fee_returned and payout.gateway_fee:
            postings += [
                debit(book.platform(Kind.GATEWAY_CASH), payout.gateway_fee),
                credit(book.platform(Kind.PAYOUT_FEES), payout.gateway_fee),
            ]
    else:
        in_flight = book.creator(payout.creator_id, Kind.CREATOR_PAYOUT_IN_FLIGHT)
        postings = [debit(in_flight, payout.amount), credit(available, payout.amount)]
    ledger_post(
        kind=LedgerTransaction.Kind.PAYOUT_RETURN,
        idempotency_key=f"payout:{payout.pk}:return",
        postings=postings,
        memo=f"Payout {payout.reference} returned ({from_status} -> {payout.status})",
        payout=payout,
    )


def _post_settle(payout: Payout) -> None:
    book = account_book(
        payout.currency,
        creator_ids=[payout.creator_id],
        creator_kinds=[Kind.CREATOR_PAYOUT_IN_FLIGHT],
        platform_kinds=[Kind.GATEWAY_CASH, Kind.PAYOUT_FEES],
    )
    cash = book.platform(Kind.GATEWAY_CASH)
    postings = [
        debit(book.creator(payout.creator_id, Kind.CREATOR_PAYOUT_IN_FLIGHT), payout.amount),
        credit(cash, payout.amount),
    ]
    if payout.gateway_fee:
        postings += [debit(book.platform(Kind.PAYOUT_FEES), payout.gateway_fee), credit(cash, payout.gateway_fee)]
    ledger_post(
        kind=LedgerTransaction.Kind.PAYOUT_SETTLE,
        idempotency_key=f"payout:{payout.pk}:settle",
        postings=postings,
        memo=f"Payout {payout.reference} paid",
        payout=payout,
    )


@transaction.atomic
def payout_transition(
    payout: Payout,
    target: str,
    *,
    source: str,
    event: object | None = None,
    gateway_id: str = "",
    fee: Decimal | None = None,
    reason: str = "",
    fee_returned: bool = False,
    changed_by: object | None = None,
) -> Outcome:
    """Move a payout to `target` if DESIGN.md's state table allows it; the one place payouts change.

    Locks the payout row, checks the transition, writes the status with a conditional
    UPDATE (the guard), posts the ledger transaction, updates the fee rows, records a
    PayoutStatusChange and notifies. A transition the table does not allow changes
    nothing and returns a STALE outcome that says why ("PROCESSING after PAID").
    """
    payout = Payout.objects.select_for_update().select_related("creator").get(pk=payout.pk)
    current = payout.status
    if current == target:
        return Outcome.ignored(f"payout already {target}")
    if current not in Payout.TRANSITIONS.get(target, ()):
        return Outcome.stale(f"{target} after {current}")

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
        changes["notes"] = _append_note(payout.notes, f"{target}: {reason or 'no reason given'}")
    updated = Payout.objects.filter(pk=payout.pk, status=current).update(**changes)
    if updated != 1:  # the row is locked above, so only a bug elsewhere can get here
        raise PayoutError(f"Payout {payout.reference} changed under a lock; refusing.", code="guard_failed")
    for field, value in changes.items():
        setattr(payout, field, value)

    fees = PlatformFee.objects.filter(payout=payout)
    if target == Payout.Status.PROCESSING:
        fees.update(payout_status=PlatformFee.PayoutStatus.PROCESSING, updated_at=now)
        messages = [Message(NKind.PAYOUT_SENT, f"payout:{payout.pk}:sent", _creator_context(payout), payout.creator)]
    elif target == Payout.Status.PAID:
        _post_settle(payout)
        fees.update(payout_status=PlatformFee.PayoutStatus.PAID, updated_at=now)
        messages = [Message(NKind.PAYOUT_PAID, f"payout:{payout.pk}:paid", _creator_context(payout), payout.creator)]
    else:
        _post_return(payout, from_status=current, fee_returned=fee_returned)
        fees.update(payout=None, payout_status=PlatformFee.PayoutStatus.PENDING, updated_at=now)
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
    return Outcome.processed(f"{current} -> {target}")


@transaction.atomic
def payout_apply_gateway_status(
    payout: Payout,
    status: str | None,
    *,
    source: str,
    event: object | None = None,
    gateway_id: str = "",
    amount: Decimal | None = None,
    fee: Decimal | None = None,
    currency: str | None = None,
    reason: str = "",
    fee_returned: bool = False,
    changed_by: object | None = None,
) -> Outcome:
    """Apply a status ClickPesa reported (webhook, poll or API answer) to a payout.

    An amount that matches neither the payout nor the payout plus ClickPesa's fee moves no
    money: the payout is flagged for finance and the event says why.
    """
    target = GATEWAY_TO_PAYOUT.get(status) if status else None
    if target is None:
        return Outcome.ignored(f"payout status {status or 'unknown'} has no effect")
    if not _amount_matches(payout, amount, fee, currency):
        return _payout_needs_review(payout, amount=amount, fee=fee, currency=currency, status=status, event=event)
    return payout_transition(
        payout,
        target,
        source=source,
        event=event,
        gateway_id=gateway_id,
        fee=fee,
        reason=reason,
        fee_returned=fee_returned,
        changed_by=changed_by,
    )


def _payout_needs_review(
    payout: Payout,
    *,
    amount: Decimal | None,
    fee: Decimal | None,
    currency: str | None,
    status: str,
    event: object | None,
) -> Outcome:
    payout = Payout.objects.select_for_update().get(pk=payout.pk)
    note = (
        f"ClickPesa reported {status} for {currency or payout.currency} {amount} (fee {fee}); "
        f"the payout is {format_money(payout.amount, payout.currency)}. No money moved."
    )
    payout.needs_review = True
    payout.notes = _append_note(payout.notes, note)
    payout.save(update_fields=["needs_review", "notes", "updated_at"])
    notify_staff(
        kind=NKind.FINANCE_ALERT,
        dedupe_key=f"payout:{payout.pk}:amount-mismatch:{getattr(event, 'pk', 'direct')}",
        context={"title": f"Payout {payout.reference}: amount differs", "detail": note},
    )
    return Outcome.processed(f"needs review: {note}")


@transaction.atomic
def payout_cancel(payout: Payout, *, by: object, reason: str) -> Outcome:
    """Cancel a payout that was never submitted to ClickPesa; the money goes back to available.

    The row is locked before the submission check: a submission claim (a conditional
    UPDATE) either committed first and is seen here, or waits and then finds it CANCELLED.
    """
    if not reason.strip():
        raise PayoutError("A reason is required to cancel a payout.", code="reason_required")
    payout = Payout.objects.select_for_update().get(pk=payout.pk)
    if payout.submitted_at is not None or payout.submission_attempts:
        raise PayoutError(f"Payout {payout.reference} was already submitted to ClickPesa.", code="submitted")
    outcome = payout_transition(
        payout, Payout.Status.CANCELLED, source=PayoutStatusChange.Source.ADMIN, reason=reason, changed_by=by
    )
    if not outcome.applied:
        raise PayoutError(f"Payout {payout.reference} cannot be cancelled: {outcome.detail}.", code="not_pending")
    return outcome


RETRYABLE_STATUSES = (Payout.Status.FAILED, Payout.Status.REFUNDED, Payout.Status.REVERSED)


@transaction.atomic
def payout_retry(payout: Payout, *, requested_by: object, method: PayoutMethod | None = None) -> Payout:
    """Pay a returned payout again: a new PENDING payout (`retry_of` it, new reference) for the same amount.

    The destination is the creator's current default method unless `method` is given.
    Refused when the payout is not FAILED/REFUNDED/REVERSED, was already retried, or the
    creator's available balance no longer covers the amount. The old payout row is locked
    first, so two staff clicking at once create one retry.
    """
    payout = Payout.objects.select_for_update().select_related("creator").get(pk=payout.pk)
    if payout.status not in RETRYABLE_STATUSES:
        raise PayoutError(
            f"Payout {payout.reference} is {payout.get_status_display()}; only failed, refunded or reversed "
            "payouts can be retried.",
            code="not_returned",
        )
    if Payout.objects.filter(retry_of=payout).exists():
        raise PayoutError(f"Payout {payout.reference} was already retried.", code="already_retried")
    creator = payout.creator
    if method is not None and method.creator_id != creator.pk:
        raise PayoutError("That payout method belongs to another creator.", code="wrong_method")
    available = _lock_available(creator, payout.currency)
    if available.balance < payout.amount:
        raise PayoutError(
            f"Available balance {format_money(available.balance, payout.currency)} no longer covers "
            f"{format_money(payout.amount, payout.currency)}.",
            code="insufficient_balance",
        )
    return _reserve(
        creator,
        amount=payout.amount,
        currency=payout.currency,
        method=method or _default_method(creator),
        requested_by=requested_by,
        retry_of=payout,
        note=f"Retry of {payout.reference}",
    )


def payout_reconcile(payout: Payout, *, by: object) -> None:
    """Mark a paid or returned payout as reconciled by finance (who and when); once."""
    final = (Payout.Status.PAID, *Payout.RETURNED_STATUSES)
    updated = Payout.objects.filter(pk=payout.pk, status__in=final, reconciled_at__isnull=True).update(
        reconciled_at=timezone.now(), reconciled_by=by, updated_at=timezone.now()
    )
    if updated:
        return
    payout.refresh_from_db()
    if payout.reconciled_at is not None:
        raise PayoutError(f"Payout {payout.reference} is already reconciled.", code="already_reconciled")
    raise PayoutError(
        f"Payout {payout.reference} is {payout.get_status_display()}; only paid or returned payouts are reconciled.",
        code="not_final",
    )


# --- Deposits, adjustments, held earnings -----------------------------------------------


@transaction.atomic
def deposit_record(
    *, reference: str, amount: Decimal, currency: str, gateway_id: str = "", event: object | None = None
) -> Outcome:
    """Record a top-up of Blinno's ClickPesa balance once per ClickPesa reference (DEPOSIT ledger)."""
    deposit, created = Deposit.objects.get_or_create(
        reference=reference[:64],
        defaults={"amount": amount, "currency": currency, "gateway_id": gateway_id[:64], "webhook_event": event},
    )
    if not created:
        if (deposit.amount, deposit.currency) != (amount, currency):
            return Outcome.stale(
                f"deposit {reference} already recorded as {format_money(deposit.amount, deposit.currency)}; "
                f"this event says {format_money(amount, currency)}"
            )
        return Outcome.ignored(f"deposit {reference} already recorded")
    book = account_book(currency, creator_kinds=(), platform_kinds=[Kind.GATEWAY_CASH, Kind.MERCHANT_FUNDING])
    ledger_post(
        kind=LedgerTransaction.Kind.DEPOSIT,
        idempotency_key=f"deposit:{deposit.reference}",
        postings=[
            debit(book.platform(Kind.GATEWAY_CASH), amount),
            credit(book.platform(Kind.MERCHANT_FUNDING), amount),
        ],
        memo=f"ClickPesa top-up {deposit.reference}",
        deposit=deposit,
    )
    return Outcome.processed("deposit recorded")


def ledger_adjust(
    *,
    debit_account: LedgerAccount,
    credit_account: LedgerAccount,
    amount: Decimal,
    reason: str,
    by: object,
    idempotency_key: str | None = None,
) -> LedgerTransaction:
    """Post a balanced ADJUSTMENT between two accounts of one currency, with a mandatory reason."""
    if not reason.strip():
        raise LedgerError("A reason is required for a manual adjustment.", code="reason_required")
    if debit_account.currency != credit_account.currency:
        raise LedgerError("Both accounts of an adjustment must be in the same currency.", code="currency_mismatch")
    if debit_account.pk == credit_account.pk:
        raise LedgerError("Debit and credit accounts must differ.", code="same_account")
    txn, _ = ledger_post(
        kind=LedgerTransaction.Kind.ADJUSTMENT,
        idempotency_key=idempotency_key or f"adjustment:{uuid.uuid4().hex}",
        postings=[debit(debit_account, amount), credit(credit_account, amount)],
        memo=f"{reason.strip()} (by {by})",
        posted_by=by,
    )
    return txn


def earnings_release_due(*, now: datetime | None = None) -> int:
    """Move held earnings whose hold has ended from pending to available; returns releases posted.

    One EARNINGS_RELEASE per order and creator, keyed by the capturing payment, so a
    second run (or two workers at once) releases nothing twice.
    """
    now = now or timezone.now()
    due = (
        PlatformFee.objects.filter(status=PlatformFee.Status.COLLECTED, released_at__isnull=True, hold_until__lte=now)
        .values_list("order_id", "creator_id", "currency")
        .distinct()
    )
    released = 0
    for order_id, creator_id, currency in list(due):
        with transaction.atomic():
            rows = list(
                PlatformFee.objects.select_for_update(skip_locked=True).filter(
                    order_id=order_id,
                    creator_id=creator_id,
                    released_at__isnull=True,
                    status=PlatformFee.Status.COLLECTED,
                )
            )
            if not rows:
                continue
            payment = Payment.objects.get(order_id=order_id, status=Payment.Status.COMPLETED)
            amount = sum((r.creator_amount for r in rows), Decimal(0))
            if amount > 0:
                book = account_book(currency, creator_ids=[creator_id])
                ledger_post(
                    kind=LedgerTransaction.Kind.EARNINGS_RELEASE,
                    idempotency_key=f"payment:{payment.pk}:creator:{creator_id}:release",
                    postings=[
                        debit(book.creator(creator_id, Kind.CREATOR_PENDING), amount),
                        credit(book.creator(creator_id, Kind.CREATOR_AVAILABLE), amount),
                    ],
                    memo=f"Hold ended for order #{order_id}",
                    payment=payment,
                )
            PlatformFee.objects.filter(pk__in=[r.pk for r in rows]).update(released_at=now, updated_at=now)
            released += 1
    return released


def payout_requery(payout: Payout, *, by: object | None = None) -> PollResult:
    """Ask ClickPesa about a payout now and apply its answer as its webhook would be (support's "Re-query").

    The answer is stored as a poll ``WebhookEvent`` (clickpesa.polling), so it shows in the
    audit trail and a late webhook with it changes nothing. A PENDING payout ClickPesa has no
    record of, whose submission attempts ran out, is submitted again (same reference: safe).
    """
    from .submission import payout_submission_rearm  # submission imports this module

    result = poll_payout(payout, by=by)
    logger.info("payout=%s re-queried by %s: %s", payout.pk, getattr(by, "pk", None) or "system", result.detail)
    if not result.error and not result.gateway_status and payout_submission_rearm(payout):
        return replace(result, detail=f"{result.detail}; submitted again")
    return result
