"""Revenue's entry points: creator balances, payout requests, retries, cancellations, reconciliation,
deposits and adjustments. Money moves only through revenue.postings (and so revenue.ledger); a
payout's status changes only in revenue.payouts.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Sum, When
from django.utils import timezone

from clickpesa.models import WebhookEvent
from clickpesa.polling import PollResult
from core.display import format_moment
from core.money import Currency, format_money
from core.notes import append_note
from core.references import new_reference
from core.results import Result
from core.users import User

from . import approvals, tasks
from .approvals import approval_request
from .fees import fees_attach
from .ledger import LedgerError, account_balance, account_book, lock_receivables
from .methods import payout_method_add, payout_method_make_default
from .models import (
    Approval,
    Deposit,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payout,
    PayoutMethod,
    PayoutStatusChange,
)
from .payouts import PayoutError, payout_apply_gateway_status, payout_transition
from .polling import poll_payout
from .postings import (
    post_adjustment,
    post_deposit,
    post_recovery,
    post_refund,
    post_reserve,
    post_tax_remittance,
    post_uncredited_refund,
)
from .submission import payout_release_for_submission, payout_submission_rearm
from .tax import withholding

__all__ = [
    "CreatorBalance",
    "CreatorEntry",
    "PayoutError",
    "creator_accounts_ensure",
    "creator_balance",
    "creator_entries",
    "deposit_record",
    "ledger_adjust",
    "payout_apply_gateway_status",
    "payout_cancel",
    "payout_method_add",
    "payout_method_make_default",
    "payout_reconcile",
    "payout_requery",
    "payout_request",
    "payout_retry",
    "payout_transition",
]

logger = logging.getLogger(__name__)

Kind = LedgerAccount.Kind


def creator_accounts_ensure(creator: User, *, currency: str = Currency.TZS) -> None:
    """Create the creator's pending, available, in-flight and receivable accounts, so a row exists to lock."""
    account_book(currency, creator_ids=[creator.pk])


@dataclass(frozen=True)
class CreatorBalance:
    currency: str
    pending: Decimal
    available: Decimal
    in_flight: Decimal
    receivable: Decimal
    earned: Decimal
    paid_out: Decimal


def creator_balance(creator: User, *, currency: str = Currency.TZS) -> CreatorBalance:
    """A creator's money: held (pending), available to pay out, in flight, what they owe Blinno
    (receivable, from payments reversed after their share was paid out), and lifetime totals.

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
        receivable=balances.get(Kind.CREATOR_RECEIVABLE, zero),
        earned=earned,
        paid_out=paid_out,
    )


@dataclass(frozen=True)
class CreatorEntry:
    """One movement of a creator's money: signed as the account reads it, and the account's balance after."""

    id: int
    created_at: datetime
    transaction_kind: str
    account_kind: str
    amount: Decimal
    balance_after: Decimal
    memo: str
    payment_reference: str | None
    payout_reference: str | None


_SIGNED = Case(When(direction=LedgerEntry.Direction.CREDIT, then=F("amount")), default=-F("amount"))


def creator_entries(
    creator: User,
    *,
    currency: str = Currency.TZS,
    after_id: int = 0,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[CreatorEntry]:
    """The creator's ledger entries (pending, available, in flight) oldest first, after entry ``after_id``.

    ``since`` and ``until`` bound ``created_at`` (until excluded). Each entry carries its
    account's running balance: the sum of every earlier entry of that account plus its own
    (creator accounts are credit-normal, so a credit is positive).
    """
    accounts = dict(LedgerAccount.objects.filter(creator=creator, currency=currency).values_list("pk", "kind"))
    entries = LedgerEntry.objects.filter(account_id__in=accounts, id__gt=after_id)
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    if until is not None:
        entries = entries.filter(created_at__lt=until)
    rows = list(
        entries.order_by("id").values(
            "id",
            "account_id",
            "direction",
            "amount",
            "created_at",
            "transaction__kind",
            "transaction__memo",
            "transaction__payment__reference",
            "transaction__payout__reference",
        )[:limit]
    )
    if not rows:
        return []
    running = dict(
        LedgerEntry.objects.filter(account_id__in=accounts, id__lt=rows[0]["id"])
        .values("account_id")
        .annotate(total=Sum(_SIGNED))
        .values_list("account_id", "total")
    )
    page = []
    for row in rows:
        signed = row["amount"] if row["direction"] == LedgerEntry.Direction.CREDIT else -row["amount"]
        running[row["account_id"]] = running.get(row["account_id"], Decimal(0)) + signed
        page.append(
            CreatorEntry(
                id=row["id"],
                created_at=row["created_at"],
                transaction_kind=row["transaction__kind"],
                account_kind=accounts[row["account_id"]],
                amount=signed,
                balance_after=running[row["account_id"]],
                memo=row["transaction__memo"],
                payment_reference=row["transaction__payment__reference"],
                payout_reference=row["transaction__payout__reference"],
            )
        )
    return page


def _default_method(creator: User) -> PayoutMethod:
    method = PayoutMethod.objects.filter(creator=creator, is_default=True).first()
    if method is None:
        raise PayoutError(f"{creator} has no default payout method.", code="no_payout_method")
    return method


def _reserve(
    creator: User,
    *,
    amount: Decimal,
    currency: str,
    method: PayoutMethod,
    requested_by: User | None,
    retry_of: Payout | None = None,
    note: str = "",
    in_run: bool = False,
) -> Payout:
    """Create a PENDING payout taking `amount` from available: the tax withheld on it (revenue.tax) to
    WHT payable, the rest in flight to be sent (caller holds the lock).

    Above ``PAYOUT_APPROVAL_THRESHOLD`` the money is reserved (nobody can request it twice) but
    nothing is submitted until another person approves it (revenue.approvals); a rejection
    cancels it and the money goes back. A payout ``in_run`` was approved with its run and waits
    for the run's dispatcher (revenue.runs) instead of being submitted on its own.
    """
    threshold = settings.PAYOUT_APPROVAL_THRESHOLD.get(currency, amount)
    held = amount > threshold and not in_run
    tax = withholding(amount, timezone.localdate())
    payout = Payout.objects.create(
        next_submission_at=None if held or in_run else timezone.now(),
        creator=creator,
        reference=new_reference("BLNPO"),
        amount=amount - tax,
        withholding_tax=tax,
        currency=currency,
        method=method,
        method_kind=method.kind,
        method_snapshot=method.snapshot(),
        requested_by=requested_by,
        retry_of=retry_of,
    )
    post_reserve(payout, requested_by=requested_by)
    fees_attach(payout)
    PayoutStatusChange.objects.create(
        payout=payout,
        from_status="",
        to_status=Payout.Status.PENDING,
        source=PayoutStatusChange.Source.ADMIN if requested_by else PayoutStatusChange.Source.SYSTEM,
        changed_by=requested_by,
        note=note
        or f"Requested: {format_money(payout.amount, currency)} to {payout.destination_label}"
        + (f", {format_money(tax, currency)} withholding tax withheld" if tax else ""),
    )
    if held:
        approval_request(
            Approval.Kind.PAYOUT,
            amount=amount,
            currency=currency,
            by=requested_by or creator,
            reason=f"Above the payout approval threshold of {format_money(threshold, currency)}",
            summary=f"Payout {payout.reference} to {creator} ({payout.destination_label})",
            subject_type="revenue.payout",
            subject_id=payout.pk,
        )
        return payout
    if in_run:
        return payout
    # Submitted to ClickPesa once the reserve is committed; the sweeper catches a lost task.
    transaction.on_commit(lambda: tasks.payout_submit_enqueue(payout.pk), robust=True)
    return payout


def _check_method(creator: User, method: PayoutMethod | None) -> None:
    if method is not None and method.creator_id != creator.pk:
        raise PayoutError("That payout method belongs to another creator.", code="wrong_method")


def _lock_available(creator: User, currency: str) -> LedgerAccount:
    """Lock the creator's receivable, then their available balance, and pay the debt back from it first.

    Earnings recover a debt when they arrive (revenue.postings); this catches one opened
    between a capture's unlocked look and its commit, so a payout never carries money owed.
    """
    book = account_book(currency, creator_ids=[creator.pk])
    owed = lock_receivables(book, [creator.pk]).get(creator.pk, Decimal(0))
    available = LedgerAccount.objects.select_for_update().get(pk=book.creator(creator.pk, Kind.CREATOR_AVAILABLE).pk)
    recovered = min(owed, available.balance)
    if recovered > 0:
        post_recovery(
            book,
            creator_id=creator.pk,
            amount=recovered,
            idempotency_key=f"creator:{creator.pk}:recovery:{uuid.uuid4().hex}",
            memo="Receivable recovered before a payout request",
        )
        available.refresh_from_db(fields=["balance"])
    return available


@transaction.atomic
def payout_request(
    creator: User,
    *,
    requested_by: User | None = None,
    currency: str = Currency.TZS,
    method: PayoutMethod | None = None,
    reason: str = "",
    hold_submission: bool = False,
) -> Payout:
    """Reserve the creator's whole available balance into a new PENDING payout.

    ``reason`` (staff asking on a creator's behalf) is kept on the payout's first status change.
    ``hold_submission``: the payout belongs to an approved payout run, whose dispatcher submits it.

    Refused when nothing is available, the balance is below settings.PAYOUT_MINIMUM, or
    ``method`` is another creator's. The creator's available account is locked first, so two
    concurrent requests cannot both reserve the same money: the second sees the balance the
    first left.
    """
    _check_method(creator, method)
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
        note=reason.strip()[:500],
        in_run=hold_submission,
    )


@transaction.atomic
def payout_cancel(payout: Payout, *, by: User, reason: str) -> Result:
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
def payout_retry(payout: Payout, *, requested_by: User, method: PayoutMethod | None = None) -> Payout:
    """Pay a returned payout again: a new PENDING payout (`retry_of` it, new reference) for the same amount.

    The destination is the creator's current default method unless `method` is given.
    Refused when the payout is not FAILED/REFUNDED/REVERSED, was already retried, is a refund to
    a buyer (asked for again from its order), or the creator's available balance no longer covers
    the amount. The old payout row is locked
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
    if payout.purpose == Payout.Purpose.REFUND:
        # A returned refund's money is back where it came from (REFUND_RETURN): paying it again is a new request.
        raise PayoutError(
            f"Payout {payout.reference} is a refund to a buyer; request the refund again from its order "
            "(it needs a new approval).",
            code="refund_not_retried",
        )
    creator = payout.creator
    _check_method(creator, method)
    available = _lock_available(creator, payout.currency)
    if available.balance < payout.gross_amount:
        raise PayoutError(
            f"Available balance {format_money(available.balance, payout.currency)} no longer covers "
            f"{format_money(payout.gross_amount, payout.currency)}.",
            code="insufficient_balance",
        )
    return _reserve(
        creator,
        amount=payout.gross_amount,
        currency=payout.currency,
        method=method or _default_method(creator),
        requested_by=requested_by,
        retry_of=payout,
        note=f"Retry of {payout.reference}",
    )


def payouts_reconcile(payout_ids: list[int], *, by: User) -> int:
    """Mark the paid or returned payouts among ``payout_ids`` reconciled by ``by`` (who and when), each
    once; how many were marked. The one place a payout becomes reconciled."""
    now = timezone.now()
    final = (Payout.Status.PAID, *Payout.RETURNED_STATUSES)
    return Payout.objects.filter(pk__in=payout_ids, status__in=final, reconciled_at__isnull=True).update(
        reconciled_at=now, reconciled_by=by, updated_at=now
    )


def payout_reconcile(payout: Payout, *, by: User) -> None:
    """Mark a paid or returned payout as reconciled by finance (who and when); once."""
    if payouts_reconcile([payout.pk], by=by):
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
    *, reference: str, amount: Decimal, currency: str, gateway_id: str = "", event: WebhookEvent | None = None
) -> Result:
    """Record a top-up of Blinno's ClickPesa balance once per ClickPesa reference (DEPOSIT ledger)."""
    deposit, created = Deposit.objects.get_or_create(
        reference=reference[:64],
        defaults={"amount": amount, "currency": currency, "gateway_id": gateway_id[:64], "webhook_event": event},
    )
    if not created:
        if (deposit.amount, deposit.currency) != (amount, currency):
            return Result.stale(
                f"deposit {reference} already recorded as {format_money(deposit.amount, deposit.currency)}; "
                f"this event says {format_money(amount, currency)}"
            )
        return Result.unchanged(f"deposit {reference} already recorded")
    post_deposit(deposit)
    return Result.done("deposit recorded")


@transaction.atomic
def refund_payout_create(
    buyer: User,
    *,
    amount: Decimal,
    currency: str,
    phone_number: str,
    order_id: int,
    payment_id: int,
    shares: Mapping[int, Decimal],
    held: Mapping[int, Decimal],
    platform_fee: Decimal,
    captured_on: date,
    by: User,
) -> Payout:
    """Pay an approved refund to the buyer's wallet: a PENDING payout (purpose REFUND, its own reference)
    submitted by the same machinery as creator payouts, and the REFUND posting that takes the creators'
    shares (and the platform fee, by policy) into refunds in flight (revenue.postings.post_refund)."""
    payout = _refund_payout(buyer, amount=amount, currency=currency, phone_number=phone_number, by=by)
    post_refund(
        payout=payout,
        order_id=order_id,
        payment_id=payment_id,
        shares=shares,
        held=held,
        platform_fee=platform_fee,
        captured_on=captured_on,
        by=by,
    )
    _refund_payout_submit(payout, note=f"Refund for order #{order_id}", by=by)
    return payout


def uncredited_refund_payout_create(
    buyer: User, *, amount: Decimal, currency: str, phone_number: str, payment_id: int, payment_reference: str, by: User
) -> Payout:
    """Pay back to the buyer's wallet what ClickPesa collected for a payment never credited (held for review):
    a refund payout, and the posting that books the money's arrival straight into refunds in flight
    (revenue.postings.post_uncredited_refund)."""
    payout = _refund_payout(buyer, amount=amount, currency=currency, phone_number=phone_number, by=by)
    post_uncredited_refund(payout=payout, payment_id=payment_id, payment_reference=payment_reference, by=by)
    _refund_payout_submit(payout, note=f"Refund of payment {payment_reference}, never credited", by=by)
    return payout


def _refund_payout(buyer: User, *, amount: Decimal, currency: str, phone_number: str, by: User) -> Payout:
    name = buyer.get_full_name() or buyer.username
    return Payout.objects.create(
        creator=buyer,
        purpose=Payout.Purpose.REFUND,
        reference=new_reference("BLNRF"),
        amount=amount,
        currency=currency,
        method=None,
        method_kind=PayoutMethod.Kind.MOBILE_WALLET,
        method_snapshot={
            "kind": PayoutMethod.Kind.MOBILE_WALLET,
            "provider": "Mobile wallet",
            "account_number": phone_number,
            "account_name": name,
            "bic": "",
        },
        requested_by=by,
    )


def _refund_payout_submit(payout: Payout, *, note: str, by: User) -> None:
    PayoutStatusChange.objects.create(
        payout=payout,
        from_status="",
        to_status=Payout.Status.PENDING,
        source=PayoutStatusChange.Source.ADMIN,
        changed_by=by,
        note=f"{note}: {format_money(payout.amount, payout.currency)} to {payout.destination_label}",
    )
    transaction.on_commit(lambda: tasks.payout_submit_enqueue(payout.pk), robust=True)


# Touching these needs a second person, whatever the amount.
SENSITIVE_KINDS = (Kind.GATEWAY_CASH, Kind.CREATOR_RECEIVABLE, Kind.REFUNDS_IN_FLIGHT)


def adjustment_needs_approval(debit_account: LedgerAccount, credit_account: LedgerAccount, amount: Decimal) -> bool:
    """Above ``ADJUSTMENT_APPROVAL_THRESHOLD``, or touching gateway cash, a receivable or refunds in flight."""
    threshold = settings.ADJUSTMENT_APPROVAL_THRESHOLD.get(debit_account.currency, Decimal(0))
    return amount > threshold or bool({debit_account.kind, credit_account.kind} & set(SENSITIVE_KINDS))


@transaction.atomic
def ledger_adjust(
    *,
    debit_account: LedgerAccount,
    credit_account: LedgerAccount,
    amount: Decimal,
    reason: str,
    by: User,
    idempotency_key: str | None = None,
) -> LedgerTransaction | Approval:
    """A staff correction between two accounts of one currency, with a mandatory reason.

    Posted at once (an ADJUSTMENT) when one person may make it alone; otherwise (see
    :func:`adjustment_needs_approval`) checked as it would be posted and recorded as an
    approval request, posted only when another person approves it. Either way never a
    payout's money in flight and never above ``ADJUSTMENT_MAXIMUM`` (revenue.postings).
    """
    if not adjustment_needs_approval(debit_account, credit_account, amount):
        return post_adjustment(
            debit_account=debit_account,
            credit_account=credit_account,
            amount=amount,
            reason=reason,
            by=by,
            idempotency_key=idempotency_key,
        )
    # The same checks the posting makes, now rather than when someone approves it.
    with transaction.atomic():
        post_adjustment(debit_account=debit_account, credit_account=credit_account, amount=amount, reason=reason, by=by)
        transaction.set_rollback(True)
    return approval_request(
        Approval.Kind.ADJUSTMENT,
        amount=amount,
        currency=debit_account.currency,
        by=by,
        reason=reason,
        summary=f"Dr {debit_account} / Cr {credit_account}",
        payload={"debit_account": debit_account.pk, "credit_account": credit_account.pk},
    )


def _adjustment_approved(approval: Approval, by: User) -> str:
    txn = post_adjustment(
        debit_account=LedgerAccount.objects.get(pk=approval.payload["debit_account"]),
        credit_account=LedgerAccount.objects.get(pk=approval.payload["credit_account"]),
        amount=approval.amount,
        reason=f"{approval.reason} (approved by {by})",
        by=approval.requested_by,
        idempotency_key=f"approval:{approval.pk}:adjustment",
    )
    return f"adjustment #{txn.pk} posted"


def _adjustment_rejected(approval: Approval, by: User) -> str:
    return "nothing posted"


def _payout_approved(approval: Approval, by: User) -> str:
    assert approval.subject_id is not None
    payout = Payout.objects.select_for_update().get(pk=approval.subject_id)
    if not payout_release_for_submission(payout):
        raise PayoutError(f"Payout {payout.reference} is {payout.get_status_display()}; nothing to submit.")
    transaction.on_commit(lambda: tasks.payout_submit_enqueue(payout.pk), robust=True)
    return f"payout {payout.reference} released for submission"


def _payout_rejected(approval: Approval, by: User) -> str:
    assert approval.subject_id is not None
    payout = Payout.objects.get(pk=approval.subject_id)
    payout_transition(
        payout,
        Payout.Status.CANCELLED,
        source=PayoutStatusChange.Source.ADMIN,
        reason=f"rejected by {by}: {approval.decision_reason or 'four-eyes approval refused'}",
        changed_by=by,
    )
    return f"payout {payout.reference} cancelled; the money is back in the creator's available balance"


def register_approvals() -> None:
    """What approving and rejecting an adjustment or a payout does (called from RevenueConfig.ready)."""
    approvals.register(Approval.Kind.ADJUSTMENT, approve=_adjustment_approved, reject=_adjustment_rejected)
    approvals.register(Approval.Kind.PAYOUT, approve=_payout_approved, reject=_payout_rejected)


def payout_requery(payout: Payout, *, by: User | None = None) -> PollResult:
    """Ask ClickPesa about a payout now and apply its answer as its webhook would be (support's "Re-query").

    The answer is stored as a poll ``WebhookEvent`` (clickpesa.polling), so it shows in the
    audit trail and a late webhook with it changes nothing. A PENDING payout ClickPesa has no
    record of, whose submission attempts ran out, is submitted again (same reference: safe).
    """
    result = poll_payout(payout, by=by)
    logger.info("payout=%s re-queried by %s: %s", payout.pk, getattr(by, "pk", None) or "system", result.detail)
    if not result.error and not result.gateway_status and payout_submission_rearm(payout):
        tasks.payout_submit_enqueue(payout.pk)
        return replace(result, detail=f"{result.detail}; submitted again")
    return result


TAX_KINDS = (LedgerAccount.Kind.VAT_PAYABLE, LedgerAccount.Kind.WHT_PAYABLE)
REMITTANCE_SOURCES = (LedgerAccount.Kind.GATEWAY_CASH, LedgerAccount.Kind.BANK)


@transaction.atomic
def tax_remit(
    *, tax_kind: str, source_kind: str, currency: str, amount: Decimal, reference: str, note: str, by: User
) -> LedgerTransaction:
    """Record a payment to the tax authority: Dr the tax payable, Cr gateway cash or the bank account.

    Refused for more than is due now. The tax account's row is locked first, so two remittances
    at once cannot both pass that check (captures never lock it: the account keeps no cached
    balance). The authority's reference is the idempotency key: one slip, one remittance.
    """
    if tax_kind not in TAX_KINDS or source_kind not in REMITTANCE_SOURCES:
        raise LedgerError("Pay VAT or withholding tax from gateway cash or the bank account.", code="bad_remittance")
    if not note.strip():
        raise LedgerError("Say which period this pays.", code="reason_required")
    account_book(currency, creator_kinds=(), platform_kinds=[tax_kind])
    account = LedgerAccount.objects.select_for_update().get(kind=tax_kind, creator=None, currency=currency)
    due = account_balance(account)
    if LedgerTransaction.objects.filter(idempotency_key=f"tax-remittance:{tax_kind}:{reference}").exists():
        raise LedgerError(f"Remittance {reference} was already recorded.", code="duplicate_remittance")
    if amount > due:
        raise LedgerError(
            f"{format_money(amount, currency)} is more than the {format_money(due, currency)} due.", code="overpaid"
        )
    return post_tax_remittance(
        tax_kind=tax_kind,
        source_kind=source_kind,
        currency=currency,
        amount=amount,
        reference=reference,
        note=note.strip(),
        by=by,
    )


# --- Payouts stuck: why they wait, submit now, clear a review ----------------------------


def payout_wait_reason(payout: Payout) -> str:
    """Why a PENDING or PROCESSING payout has not settled, in a sentence, with the next step ("" otherwise)."""
    if payout.status not in Payout.IN_FLIGHT_STATUSES:
        return ""
    if payout.submitted_at is not None:
        return (
            f"Submitted to ClickPesa {format_moment(payout.submitted_at)}; no final report since. "
            "Re-query ClickPesa: its answer is applied as a webhook would be."
        )
    if Approval.objects.filter(
        kind=Approval.Kind.PAYOUT, subject_id=payout.pk, decision=Approval.Decision.PENDING
    ).exists():
        return "Waiting for a second person's approval (above the approval threshold); nothing is sent before."
    if payout.next_submission_at is None and payout.submission_attempts:
        return (
            f"ClickPesa was tried {payout.submission_attempts} times without an answer it could use "
            f"({payout.last_error or 'no error kept'}); no attempt is planned. Submit it now."
        )
    if payout.next_submission_at is not None and payout.next_submission_at > timezone.now():
        return f"Next submission planned {format_moment(payout.next_submission_at)}. Submit it now to go earlier."
    return "Due for submission; no worker has taken it yet (is the worker running?). Submit it now."


@transaction.atomic
def payout_submit_now(payout: Payout, *, by: User) -> str:
    """Make a PENDING payout never accepted by ClickPesa due now and queue its submission.

    Refused for a payout ClickPesa already has (submitted: re-query instead), one that waits
    for approval, or one no longer pending. The submission itself is the usual one
    (revenue.submission: claimed, queried first if an earlier attempt may have gone through).
    """
    locked = Payout.objects.select_for_update().get(pk=payout.pk)
    if locked.status != Payout.Status.PENDING:
        raise PayoutError(f"Payout {locked.reference} is {locked.get_status_display()}.", code="not_pending")
    if locked.submitted_at is not None:
        raise PayoutError(
            f"Payout {locked.reference} is already with ClickPesa; re-query it instead.", code="submitted"
        )
    if Approval.objects.filter(
        kind=Approval.Kind.PAYOUT, subject_id=locked.pk, decision=Approval.Decision.PENDING
    ).exists():
        raise PayoutError(f"Payout {locked.reference} waits for approval.", code="awaiting_approval")
    now = timezone.now()
    locked.next_submission_at = now
    locked.notes = append_note(locked.notes, f"Submission asked for now by {by}")
    locked.save(update_fields=["next_submission_at", "notes", "updated_at"])
    transaction.on_commit(lambda: tasks.payout_submit_enqueue(locked.pk))
    return f"Payout {locked.reference} queued for submission to ClickPesa now."


def payout_review_clear(payout: Payout, *, by: User, reason: str) -> str:
    """Take a payout off the needs-review list with the reason kept in its notes; no money moves."""
    if not reason.strip():
        raise PayoutError("A reason is required to clear a review.", code="reason_required")
    with transaction.atomic():
        locked = Payout.objects.select_for_update().get(pk=payout.pk)
        if not locked.needs_review:
            raise PayoutError(f"Payout {locked.reference} is not flagged for review.", code="not_in_review")
        locked.needs_review = False
        locked.notes = append_note(locked.notes, f"Review cleared by {by}: {reason.strip()}")
        locked.save(update_fields=["needs_review", "notes", "updated_at"])
    return f"Payout {locked.reference} cleared from review; no money moved."
