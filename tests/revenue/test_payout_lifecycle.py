"""The payout state machine: each transition's money, fee rows, audit trail and notifications."""

from decimal import Decimal

import pytest

from clickpesa.payloads import GatewayStatus
from core.results import Effect
from notifications.models import Notification
from revenue.ledger import account_balance, account_book
from revenue.models import LedgerAccount, LedgerTransaction, Payout, PayoutStatusChange, PlatformFee
from revenue.services import creator_balance, payout_apply_gateway_status
from tests.factories import PayoutFactory

Kind = LedgerAccount.Kind
WEBHOOK = PayoutStatusChange.Source.WEBHOOK
FEE = Decimal("1180.00")


def apply(payout, status, **kwargs):
    kwargs.setdefault("source", WEBHOOK)
    outcome = payout_apply_gateway_status(payout, status, **kwargs)
    payout.refresh_from_db()
    return outcome


def cash():
    return account_balance(account_book("TZS", platform_kinds=[Kind.GATEWAY_CASH]).platform(Kind.GATEWAY_CASH))


def kinds(payout):
    return sorted(payout.ledger_transactions.values_list("kind", flat=True))


@pytest.mark.django_db
def test_initiated_moves_the_payout_and_its_fee_rows_to_processing():
    payout = PayoutFactory()
    outcome = apply(payout, GatewayStatus.PROCESSING, gateway_id="PAYX7Q2M9")
    assert outcome.applied is True
    assert payout.status == Payout.Status.PROCESSING
    assert payout.submitted_at is not None
    assert set(payout.fee_rows.values_list("payout_status", flat=True)) == {PlatformFee.PayoutStatus.PROCESSING}
    assert Notification.objects.filter(recipient=payout.creator, kind=Notification.Kind.PAYOUT_SENT).count() == 1
    assert kinds(payout) == [LedgerTransaction.Kind.PAYOUT_RESERVE]


@pytest.mark.django_db
def test_success_settles_in_flight_against_gateway_cash_and_books_the_fee():
    payout = PayoutFactory()
    cash_before = cash()
    apply(payout, GatewayStatus.PROCESSING)
    apply(payout, GatewayStatus.SUCCESS, gateway_id="PAYX7Q2M9", amount=payout.amount + FEE, fee=FEE)
    assert payout.status == Payout.Status.PAID
    assert payout.paid_at is not None
    assert (payout.gateway_id, payout.gateway_fee) == ("PAYX7Q2M9", FEE)
    assert set(payout.fee_rows.values_list("payout_status", flat=True)) == {PlatformFee.PayoutStatus.PAID}
    balance = creator_balance(payout.creator)
    assert (balance.available, balance.in_flight, balance.paid_out) == (0, 0, payout.amount)
    assert cash() == cash_before - payout.amount - FEE
    fees_account = account_book("TZS", platform_kinds=[Kind.PAYOUT_FEES]).platform(Kind.PAYOUT_FEES)
    assert account_balance(fees_account) == FEE
    paid = Notification.objects.get(recipient=payout.creator, kind=Notification.Kind.PAYOUT_PAID)
    assert "M-Pesa ****" in paid.body and "TZS 46,000.00" in paid.body


@pytest.mark.parametrize(
    ("status", "target"),
    [
        (GatewayStatus.FAILED, Payout.Status.FAILED),
        (GatewayStatus.REFUNDED, Payout.Status.REFUNDED),
        (GatewayStatus.REVERSED, Payout.Status.REVERSED),
    ],
)
@pytest.mark.django_db
def test_a_return_before_payment_gives_the_money_back_once(status, target):
    payout = PayoutFactory()
    apply(payout, GatewayStatus.PROCESSING)
    apply(payout, status, reason="The payout was refunded due to a processing error.")
    assert payout.status == target
    assert "processing error" in payout.notes
    balance = creator_balance(payout.creator)
    assert (balance.available, balance.in_flight) == (payout.amount, 0)
    # The payout keeps its rows, unpaid, for its retry or the next payout to take.
    fees = PlatformFee.objects.filter(creator=payout.creator)
    assert set(fees.values_list("payout_id", "payout_status")) == {(payout.pk, PlatformFee.PayoutStatus.PENDING)}
    returned = Notification.objects.get(recipient=payout.creator, kind=Notification.Kind.PAYOUT_RETURNED)
    assert "back in your available balance" in returned.body
    assert "processing error" in returned.body


@pytest.mark.django_db
def test_a_reversal_after_payment_returns_the_money_from_gateway_cash():
    payout = PayoutFactory()
    cash_before = cash()
    apply(payout, GatewayStatus.SUCCESS, amount=payout.amount + FEE, fee=FEE)
    apply(payout, GatewayStatus.REVERSED, reason="invalid account information")
    assert payout.status == Payout.Status.REVERSED
    balance = creator_balance(payout.creator)
    assert (balance.available, balance.in_flight, balance.paid_out) == (payout.amount, 0, 0)
    # The amount came back to our ClickPesa balance; the fee did not (reversedWithFee unset).
    assert cash() == cash_before - FEE
    assert set(PlatformFee.objects.filter(creator=payout.creator).values_list("payout_status", flat=True)) == {
        PlatformFee.PayoutStatus.PENDING
    }
    assert kinds(payout) == ["PAYOUT_RESERVE", "PAYOUT_RETURN", "PAYOUT_SETTLE"]


@pytest.mark.django_db
def test_a_reversal_with_fee_after_payment_returns_the_fee_too():
    payout = PayoutFactory()
    cash_before = cash()
    apply(payout, GatewayStatus.SUCCESS, amount=payout.amount + FEE, fee=FEE)
    apply(payout, GatewayStatus.REVERSED, reason="bad number", fee_returned=True)
    assert cash() == cash_before


@pytest.mark.django_db
def test_finance_is_told_about_a_return_after_payment(django_user_model):
    from django.contrib.auth.models import Group

    finance = django_user_model.objects.create(username="fin", email="fin@example.com")
    finance.groups.add(Group.objects.get_or_create(name="Finance")[0])
    payout = PayoutFactory()
    apply(payout, GatewayStatus.SUCCESS)
    apply(payout, GatewayStatus.REFUNDED, reason="processing error")
    alert = Notification.objects.get(recipient=finance, kind=Notification.Kind.FINANCE_ALERT)
    assert payout.reference in alert.subject


@pytest.mark.parametrize(
    ("first", "late", "detail"),
    [
        (GatewayStatus.SUCCESS, GatewayStatus.PROCESSING, "PROCESSING after PAID"),
        (GatewayStatus.REFUNDED, GatewayStatus.REVERSED, "REVERSED after REFUNDED"),
        (GatewayStatus.FAILED, GatewayStatus.SUCCESS, "PAID after FAILED"),
        (GatewayStatus.REVERSED, GatewayStatus.FAILED, "FAILED after REVERSED"),
    ],
)
@pytest.mark.django_db
def test_a_transition_outside_the_table_is_stale_and_changes_nothing(first, late, detail):
    payout = PayoutFactory()
    apply(payout, first)
    before = (payout.status, creator_balance(payout.creator), payout.ledger_transactions.count())
    outcome = apply(payout, late)
    assert (outcome.effect, outcome.detail) == (Effect.STALE, detail)
    assert (payout.status, creator_balance(payout.creator), payout.ledger_transactions.count()) == before


@pytest.mark.django_db
def test_every_change_is_in_the_status_history_with_its_source():
    payout = PayoutFactory()
    apply(payout, GatewayStatus.PROCESSING)
    apply(payout, GatewayStatus.SUCCESS)
    history = list(payout.status_changes.values_list("from_status", "to_status", "source"))
    assert history == [
        ("", "PENDING", "system"),
        ("PENDING", "PROCESSING", "webhook"),
        ("PROCESSING", "PAID", "webhook"),
    ]


@pytest.mark.django_db
def test_an_amount_that_matches_neither_figure_moves_no_money_and_flags_finance():
    payout = PayoutFactory()
    outcome = apply(payout, GatewayStatus.SUCCESS, amount=payout.amount + Decimal("1.00"), fee=Decimal("0.50"))
    assert outcome.detail.startswith("needs review")
    assert payout.status == Payout.Status.PENDING
    assert payout.needs_review is True
    assert "No money moved" in payout.notes
    assert kinds(payout) == [LedgerTransaction.Kind.PAYOUT_RESERVE]


@pytest.mark.django_db
def test_the_amount_with_or_without_clickpesa_fee_is_accepted():
    first, second = PayoutFactory(), PayoutFactory()
    assert apply(first, GatewayStatus.SUCCESS, amount=first.amount, fee=FEE).applied is True
    assert apply(second, GatewayStatus.SUCCESS, amount=second.amount + FEE, fee=FEE).applied is True
