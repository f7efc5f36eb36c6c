"""Reconcile, cancel, adjust, deposit and held-earnings services."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from clickpesa.payloads import GatewayStatus
from core.results import Effect
from revenue.fees import earnings_release_due
from revenue.ledger import LedgerError, account_balance, account_book, ledger_audit
from revenue.models import Deposit, LedgerAccount, LedgerTransaction, Payout, PlatformFee
from revenue.services import (
    PayoutError,
    creator_balance,
    deposit_record,
    ledger_adjust,
    payout_apply_gateway_status,
    payout_cancel,
    payout_reconcile,
)
from tests.factories import CreatorFactory, PayoutFactory, UserFactory, earn

Kind = LedgerAccount.Kind


@pytest.mark.django_db
def test_reconcile_marks_a_paid_payout_once_with_who_and_when():
    payout = PayoutFactory()
    payout_apply_gateway_status(payout, GatewayStatus.SUCCESS, source="webhook")
    clerk = UserFactory(is_staff=True)
    payout_reconcile(payout, by=clerk)
    payout.refresh_from_db()
    assert payout.reconciled_by == clerk and payout.reconciled_at is not None
    with pytest.raises(PayoutError, match="already reconciled"):
        payout_reconcile(payout, by=clerk)


@pytest.mark.django_db
def test_reconcile_refuses_a_payout_still_in_flight():
    with pytest.raises(PayoutError, match="only paid or returned"):
        payout_reconcile(PayoutFactory(), by=UserFactory())


@pytest.mark.django_db
def test_cancel_returns_an_unsubmitted_payout_with_its_reason():
    payout = PayoutFactory(submitted=False)
    payout_cancel(payout, by=UserFactory(is_staff=True), reason="creator asked to change number")
    payout.refresh_from_db()
    assert payout.status == Payout.Status.CANCELLED
    assert "change number" in payout.notes
    assert creator_balance(payout.creator).available == payout.amount


@pytest.mark.django_db
def test_cancel_refuses_a_submitted_payout():
    payout = PayoutFactory()
    payout_apply_gateway_status(payout, GatewayStatus.PROCESSING, source="webhook")
    payout.refresh_from_db()
    with pytest.raises(PayoutError, match="already submitted"):
        payout_cancel(payout, by=UserFactory(), reason="x")


@pytest.mark.django_db
def test_an_adjustment_is_balanced_audited_and_needs_a_reason():
    creator = CreatorFactory()
    book = account_book("TZS", creator_ids=[creator.pk], platform_kinds=[Kind.SUSPENSE])
    clerk = UserFactory(is_staff=True)
    with pytest.raises(LedgerError, match="reason is required"):
        ledger_adjust(
            debit_account=book.platform(Kind.SUSPENSE),
            credit_account=book.creator(creator.pk, Kind.CREATOR_AVAILABLE),
            amount=Decimal("700.00"),
            reason="  ",
            by=clerk,
        )
    txn = ledger_adjust(
        debit_account=book.platform(Kind.SUSPENSE),
        credit_account=book.creator(creator.pk, Kind.CREATOR_AVAILABLE),
        amount=Decimal("700.00"),
        reason="Goodwill credit for a late delivery",
        by=clerk,
    )
    assert (txn.kind, txn.posted_by) == (LedgerTransaction.Kind.ADJUSTMENT, clerk)
    assert "Goodwill" in txn.memo
    assert creator_balance(creator).available == Decimal("700.00")
    assert ledger_audit(record=False).ok is True


@pytest.mark.django_db
def test_a_deposit_is_recorded_once_per_reference():
    first = deposit_record(reference="DEP240918TOPUP01", amount=Decimal("500000.00"), currency="TZS")
    again = deposit_record(reference="DEP240918TOPUP01", amount=Decimal("500000.00"), currency="TZS")
    assert (first.effect, again.effect) == (Effect.APPLIED, Effect.UNCHANGED)
    assert Deposit.objects.count() == 1
    book = account_book("TZS", platform_kinds=[Kind.GATEWAY_CASH, Kind.MERCHANT_FUNDING])
    assert account_balance(book.platform(Kind.MERCHANT_FUNDING)) == Decimal("500000.00")
    assert account_balance(book.platform(Kind.GATEWAY_CASH)) == Decimal("500000.00")


@pytest.mark.django_db
def test_held_earnings_are_pending_until_the_hold_ends_then_released_once(settings):
    settings.EARNINGS_HOLD_DAYS = 3
    creator = CreatorFactory()
    earn(creator, Decimal("10000.00"))
    assert (creator_balance(creator).pending, creator_balance(creator).available) == (Decimal("9200.00"), 0)
    assert earnings_release_due() == 0

    later = timezone.now() + timedelta(days=3, minutes=1)
    assert earnings_release_due(now=later) == 1
    assert earnings_release_due(now=later) == 0
    balance = creator_balance(creator)
    assert (balance.pending, balance.available) == (0, Decimal("9200.00"))
    assert PlatformFee.objects.get(creator=creator).released_at is not None
    assert ledger_audit(record=False).ok is True
