"""Payments ClickPesa gives back without a webhook: found by the re-check poller and by the statement, applied once.

ClickPesa is the project's simulator (its dashboard's "reverse" is ``reverse_payment``); webhooks
are dropped, so only the poller and the statement can bring the news.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from backoffice.models import StatementLine
from backoffice.reconciliation import statement_fetch
from clickpesa.client import requests_this_minute
from clickpesa.models import WebhookEvent
from devtools.simulator import ClickPesaSimulator
from payments.models import Order, Payment
from payments.polling import recheck_completed_due
from payments.services import payment_requery, payment_start
from revenue.ledger import account_balance, account_book, ledger_audit
from revenue.models import LedgerAccount, LedgerTransaction
from revenue.services import creator_balance
from tests.factories import CreatorFactory, OrderFactory
from tests.polling import PAYMENTS_AFTER, PHONE, minutes_later, poll_due, queries, simulators, use_simulator_settings

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clickpesa_settings(settings):
    use_simulator_settings(settings)


@pytest.fixture
def simulator(settings):
    with simulators(settings) as start:
        yield start()


def completed(simulator: ClickPesaSimulator, capture_callbacks) -> Payment:
    """A payment the buyer paid at the simulator, its dropped webhook recovered by the poller."""
    creator = CreatorFactory()
    with capture_callbacks(execute=True):
        payment = payment_start(OrderFactory(creators=[creator]), phone_number=PHONE)
    simulator.deliver_pending()
    with minutes_later(PAYMENTS_AFTER + 1):
        poll_due()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert payment.next_recheck_at == payment.completed_at + timedelta(hours=1)
    return payment


def hours_after(payment: Payment, hours: float):
    return minutes_later((payment.completed_at + timedelta(hours=hours) - timezone.now()).total_seconds() / 60)


def reversals(payment: Payment) -> int:
    return LedgerTransaction.objects.filter(payment=payment, kind=LedgerTransaction.Kind.PAYMENT_REVERSAL).count()


def test_the_recheck_finds_a_reversal_with_charges_and_applies_it(simulator, django_capture_on_commit_callbacks):
    payment = completed(simulator, django_capture_on_commit_callbacks)
    simulator.reverse_payment(payment.reference, charges=Decimal("1000.00"), message="Reversed by operator")

    with hours_after(payment, 1.5):
        [result] = recheck_completed_due().results

    payment.refresh_from_db()
    assert (payment.status, payment.order.status) == (Payment.Status.REVERSED, Order.Status.REFUNDED)
    assert (payment.reversal_charges, payment.next_recheck_at) == (Decimal("1000.00"), None)
    assert result.event.event_name == "PAYMENT REVERSED"
    assert result.event.status == WebhookEvent.Status.PROCESSED
    charges = account_book("TZS", creator_kinds=(), platform_kinds=[Kind.GATEWAY_CHARGES]).platform(
        Kind.GATEWAY_CHARGES
    )
    assert account_balance(charges) == Decimal("1000.00")
    assert ledger_audit(record=False).ok


def test_seen_by_the_poller_then_the_statement_it_is_applied_once(
    simulator, django_capture_on_commit_callbacks, finance_user
):
    payment = completed(simulator, django_capture_on_commit_callbacks)
    simulator.reverse_payment(payment.reference, charges=Decimal("500.00"))
    with hours_after(payment, 1.5):
        recheck_completed_due()

    today = timezone.localdate()
    # From yesterday: just after midnight in Dar es Salaam, the payment's lines are dated the day before.
    statement = statement_fetch(
        currency="TZS", period_start=today - timedelta(days=1), period_end=today, by=finance_user
    )

    lines = {line.line_type: line for line in statement.lines.all()}
    assert lines["Reversed Payment"].outcome == StatementLine.Outcome.MATCHED
    assert lines["Fee - Reversed Payment"].outcome == StatementLine.Outcome.MATCHED
    assert lines["Payment"].outcome == StatementLine.Outcome.MATCHED
    assert reversals(payment) == 1


def test_seen_by_the_statement_then_the_poller_it_is_applied_once(
    simulator, django_capture_on_commit_callbacks, finance_user
):
    payment = completed(simulator, django_capture_on_commit_callbacks)
    simulator.reverse_payment(payment.reference, refunded=True)
    today = timezone.localdate()

    # From yesterday: just after midnight in Dar es Salaam, the payment's lines are dated the day before.
    statement = statement_fetch(
        currency="TZS", period_start=today - timedelta(days=1), period_end=today, by=finance_user
    )

    payment.refresh_from_db()
    assert payment.status == Payment.Status.REFUNDED
    line = statement.lines.get(line_type="Refunded Payment")
    assert (line.outcome, "reversal applied from this statement" in line.detail) == ("MATCHED", True)
    event = WebhookEvent.objects.get(event_name="PAYMENT REVERSED")
    assert event.headers["x-requested-by"] == finance_user.username

    result = payment_requery(payment)  # support asks again: ClickPesa says REFUNDED, nothing more happens
    assert result.event.status == WebhookEvent.Status.IGNORED
    assert reversals(payment) == 1
    assert creator_balance(payment.order.fees.get().creator).available == Decimal("0.00")


def test_the_schedule_decays_and_ends_with_the_window(simulator, django_capture_on_commit_callbacks):
    payment = completed(simulator, django_capture_on_commit_callbacks)
    asked = queries(simulator, payment.reference)

    for hours, expected_asks, next_age in [(0.5, 0, 1), (1.5, 1, 6), (3, 0, 6), (7, 1, 24), (400, 1, None)]:
        with hours_after(payment, hours):
            recheck_completed_due()
        payment.refresh_from_db()
        assert queries(simulator, payment.reference) - asked == expected_asks, hours
        asked = queries(simulator, payment.reference)
        expected = payment.completed_at + timedelta(hours=next_age) if next_age else None
        assert payment.next_recheck_at == expected, hours
    assert payment.status == Payment.Status.COMPLETED


def test_rechecks_leave_the_minutes_allowance_to_other_calls(simulator, django_capture_on_commit_callbacks, settings):
    payments = [completed(simulator, django_capture_on_commit_callbacks) for _ in range(3)]
    settings.CLICKPESA_REQUESTS_PER_MINUTE, settings.CLICKPESA_RECHECK_RESERVE_PER_MINUTE = 12, 10
    cache.clear()

    with hours_after(payments[-1], 1.5):
        summary = recheck_completed_due()
        assert requests_this_minute() == 2  # the token and one question: then the room was used up

    assert len(summary.results) == 1
    due_later = Payment.objects.filter(next_recheck_at__lte=payments[-1].completed_at + timedelta(hours=1))
    assert due_later.count() == 2  # asked at a later run
