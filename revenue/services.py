"""Revenue services: creator balances and payouts. Money moves only through revenue.ledger."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Sum

from blinno.exceptions import BlinnoError
from payments.services import new_reference

from .ledger import account_book, credit, debit, ledger_post
from .models import (
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payout,
    PayoutMethod,
    PayoutStatusChange,
    PlatformFee,
)
from .money import Currency, format_money

Kind = LedgerAccount.Kind


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
