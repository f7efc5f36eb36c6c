"""Payments ClickPesa gave back (REVERSED, REFUNDED): the capture undone once, debts recorded and recovered."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from core.results import Effect
from notifications.models import Notification
from payments.models import Booking, Order, Payment
from payments.services import LineSpec, order_create, payment_mark_reversed, payment_start
from revenue.fees import earnings_release_due
from revenue.ledger import account_balance, account_book, ledger_audit
from revenue.models import LedgerAccount, LedgerTransaction, PlatformFee, TransactionType
from revenue.services import PayoutError, creator_balance, payout_apply_gateway_status, payout_request
from revenue.submission import payout_claim
from tests.factories import BuyerFactory, CreatorFactory, capture, earn

Kind = LedgerAccount.Kind
SHARE = Decimal("9200.00")  # a 10,000 marketplace sale less Blinno's 8 %


def platform(kind: str) -> Decimal:
    return account_balance(account_book("TZS", creator_kinds=(), platform_kinds=[kind]).platform(kind))


def paid_out(creator) -> None:
    """The creator's whole available balance requested and paid by ClickPesa."""
    payout = payout_request(creator)
    assert payout_claim(payout.pk) == 0
    payout_apply_gateway_status(payout, "SUCCESS", source="webhook", amount=payout.amount)


def test_reversal_before_payout_takes_the_share_back_from_available(db):
    creator = CreatorFactory()
    cash, fees, processing = platform(Kind.GATEWAY_CASH), platform(Kind.PLATFORM_FEES), platform(Kind.PROCESSING_FEES)
    payment = earn(creator)

    result = payment_mark_reversed(payment, status="REVERSED", reason="Customer complaint")

    assert result.effect == Effect.APPLIED
    payment.refresh_from_db()
    assert (payment.status, payment.order.status) == (Payment.Status.REVERSED, Order.Status.REFUNDED)
    assert set(PlatformFee.objects.filter(order=payment.order).values_list("status", flat=True)) == {"REFUNDED"}
    balance = creator_balance(creator)
    assert (balance.available, balance.receivable) == (Decimal("0.00"), Decimal("0.00"))
    assert platform(Kind.GATEWAY_CASH) == cash
    assert (platform(Kind.PLATFORM_FEES), platform(Kind.PROCESSING_FEES)) == (fees, processing)
    reversal = LedgerTransaction.objects.get(payment=payment, kind=LedgerTransaction.Kind.PAYMENT_REVERSAL)
    assert reversal.idempotency_key == f"payment:{payment.pk}:reversal"
    assert ledger_audit(record=False).ok


def test_reversal_after_payout_opens_a_receivable_that_the_next_sale_recovers(db):
    creator = CreatorFactory()
    payment = earn(creator)
    paid_out(creator)

    payment_mark_reversed(payment, status="REVERSED", reason="Fraud")

    balance = creator_balance(creator)
    assert (balance.available, balance.receivable) == (Decimal("0.00"), SHARE)
    receivable = LedgerAccount.objects.get(creator=creator, kind=Kind.CREATOR_RECEIVABLE)
    assert receivable.balance == SHARE

    earn(creator, Decimal("20000.00"))  # earns 18,400; 9,200 of it pays the debt back

    balance = creator_balance(creator)
    assert (balance.available, balance.receivable) == (Decimal("9200.00"), Decimal("0.00"))
    recoveries = LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.RECEIVABLE_RECOVERY)
    assert recoveries.count() == 1
    earn(creator)  # nothing left to recover: no second recovery
    assert recoveries.count() == 1
    assert creator_balance(creator).available == Decimal("18400.00")
    assert ledger_audit(record=False).ok


def test_a_small_sale_recovers_part_of_the_debt_and_a_payout_request_cannot_carry_it(db):
    creator = CreatorFactory()
    payment = earn(creator)
    paid_out(creator)
    payment_mark_reversed(payment, status="REVERSED")

    earn(creator, Decimal("5000.00"))  # earns 4,500 (the fee's minimum is 500): all of it goes to the debt

    balance = creator_balance(creator)
    assert (balance.available, balance.receivable) == (Decimal("0.00"), Decimal("4700.00"))
    with pytest.raises(PayoutError, match="Nothing is available"):
        payout_request(creator)


def test_reversal_with_charges_books_them_as_an_expense_paid_from_cash(db):
    creator = CreatorFactory()
    cash = platform(Kind.GATEWAY_CASH)
    payment = earn(creator)

    payment_mark_reversed(payment, status="REVERSED", charges=Decimal("1500.00"))

    assert platform(Kind.GATEWAY_CHARGES) == Decimal("1500.00")
    assert platform(Kind.GATEWAY_CASH) == cash - Decimal("1500.00")
    payment.refresh_from_db()
    assert payment.reversal_charges == Decimal("1500.00")
    assert ledger_audit(record=False).ok


def test_refund_before_settlement_of_held_earnings_takes_them_from_pending(db, settings):
    settings.EARNINGS_HOLD_DAYS = 7
    creator = CreatorFactory()
    payment = earn(creator)
    assert creator_balance(creator).pending == SHARE

    payment_mark_reversed(payment, status="REFUNDED")

    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    balance = creator_balance(creator)
    assert (balance.pending, balance.available, balance.receivable) == (Decimal(0), Decimal(0), Decimal(0))
    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert earnings_release_due() == 0  # the refunded rows are released to nobody


def test_held_earnings_recover_a_debt_when_released(db, settings):
    creator = CreatorFactory()
    payment = earn(creator)
    paid_out(creator)
    payment_mark_reversed(payment, status="REVERSED")
    settings.EARNINGS_HOLD_DAYS = 7
    earn(creator, Decimal("20000.00"))
    assert creator_balance(creator).receivable == SHARE  # held earnings do not pay it yet

    with time_machine.travel(timezone.now() + timedelta(days=8)):
        assert earnings_release_due() == 1

    balance = creator_balance(creator)
    assert (balance.pending, balance.available, balance.receivable) == (Decimal(0), Decimal("9200.00"), Decimal(0))
    assert ledger_audit(record=False).ok


def test_reversal_is_applied_once(db):
    creator = CreatorFactory()
    payment = earn(creator)

    first = payment_mark_reversed(payment, status="REVERSED")
    again = payment_mark_reversed(payment, status="REVERSED")
    other = payment_mark_reversed(payment, status="REFUNDED")

    assert [first.effect, again.effect, other.effect] == [Effect.APPLIED, Effect.UNCHANGED, Effect.UNCHANGED]
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_REVERSAL).count() == 1


def test_reversal_of_a_payment_never_captured_moves_nothing(db):
    payment = payment_start(order_create(BuyerFactory(), lines=[LineSpec(CreatorFactory(), "TIP", Decimal("5000"))]))

    result = payment_mark_reversed(payment, status="REVERSED")

    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW
    assert "never captured" in result.detail
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_REVERSAL).exists()


def test_reversal_of_another_amount_moves_nothing(db):
    payment = earn(CreatorFactory())

    payment_mark_reversed(payment, status="REVERSED", amount=Decimal("1.00"))

    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_REVERSAL).exists()


def test_bookings_are_cancelled_and_everyone_told_in_their_language(db, finance_user):
    creator = CreatorFactory(language="sw")
    buyer = BuyerFactory(language="sw")
    booking = Booking.objects.create(buyer=buyer, creator=creator, description="Session")
    order = order_create(
        buyer,
        lines=[LineSpec(creator, TransactionType.SERVICE_BOOKING, Decimal("10000.00"), booking=booking)],
    )
    payment = capture(payment_start(order))
    paid_out(creator)

    payment_mark_reversed(payment, status="REVERSED")

    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    to_buyer = Notification.objects.get(kind=Notification.Kind.PAYMENT_REVERSED)
    to_creator = Notification.objects.get(kind=Notification.Kind.SALE_REVERSED)
    assert (to_buyer.recipient, to_buyer.language) == (buyer, "sw")
    assert "yamerudishwa" in to_buyer.subject
    assert to_creator.recipient == creator
    assert "itakatwa kutoka kwenye mapato yako" in to_creator.body  # what they owe, in Swahili
    alert = Notification.objects.get(kind=Notification.Kind.FINANCE_ALERT, recipient=finance_user)
    assert "Receivables opened" in alert.body


def test_two_creators_one_paid_out(db):
    paid, unpaid = CreatorFactory(), CreatorFactory()
    earn(paid)
    paid_out(paid)
    order = order_create(
        BuyerFactory(),
        lines=[LineSpec(c, TransactionType.MARKETPLACE, Decimal("10000.00")) for c in (paid, unpaid)],
    )
    payment = capture(payment_start(order))
    paid_out(paid)

    payment_mark_reversed(payment, status="REVERSED")

    assert creator_balance(paid).receivable == SHARE
    assert (creator_balance(unpaid).available, creator_balance(unpaid).receivable) == (Decimal(0), Decimal(0))
    assert ledger_audit(record=False).ok


@pytest.mark.parametrize("language", ["en", "sw"])
def test_creator_whose_balance_covers_it_is_told_it_came_out_of_their_balance(db, language):
    creator = CreatorFactory(language=language)
    payment = earn(creator)

    payment_mark_reversed(payment, status="REVERSED")

    body = Notification.objects.get(kind=Notification.Kind.SALE_REVERSED).body
    assert ("Imetolewa kwenye salio lako" if language == "sw" else "came out of your balance") in body
