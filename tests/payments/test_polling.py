"""Missed payment webhooks (payments.polling): ClickPesa's answers applied as poll events.

The simulator drops every webhook in these tests, so only the poller can bring the news; a
"late" webhook is the dropped delivery POSTed to our real endpoint afterwards (tests.polling).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from clickpesa.client import ClickPesaClient
from clickpesa.models import WebhookEvent
from devtools.simulator import ClickPesaSimulator
from payments.models import Order, Payment
from payments.polling import poll_payments_due, poll_payments_since
from payments.services import payment_requery, payment_start
from payments.tasks import payments_poll
from revenue.models import LedgerTransaction
from tests.factories import OrderFactory, PaymentFactory, UserFactory
from tests.polling import (
    PAYMENTS_AFTER,
    PHONE,
    dropped,
    minutes_later,
    poll_due,
    post_late,
    queries,
    simulators,
    use_simulator_settings,
)


@pytest.fixture(autouse=True)
def clickpesa_settings(settings):
    use_simulator_settings(settings)


@pytest.fixture
def start(settings):
    with simulators(settings) as start:
        yield start


@pytest.fixture
def simulator(start):
    return start()


def _pushed_payment(simulator: ClickPesaSimulator, capture_callbacks) -> Payment:
    """A payment whose USSD push ClickPesa accepted and that ended as the simulator's outcome says, unheard."""
    with capture_callbacks(execute=True):
        payment = payment_start(OrderFactory(), phone_number=PHONE)
    simulator.deliver_pending()
    payment.refresh_from_db()
    assert (payment.status, payment.push_sent_at is not None) == (Payment.Status.PENDING, True)
    return payment


@pytest.mark.django_db
def test_a_dropped_payment_webhook_is_recovered_by_the_poller(simulator, django_capture_on_commit_callbacks):
    payment = _pushed_payment(simulator, django_capture_on_commit_callbacks)

    with minutes_later(PAYMENTS_AFTER + 1):
        poll_due()

    payment.refresh_from_db()
    event = WebhookEvent.objects.get(source=WebhookEvent.Source.POLL)
    assert payment.status == Payment.Status.COMPLETED
    assert payment.order.status == Order.Status.PAID
    assert (event.event_name, event.endpoint, event.status) == ("PAYMENT RECEIVED", "payments", "PROCESSED")


@pytest.mark.django_db
def test_a_late_real_payment_webhook_after_the_poll_is_a_duplicate(
    simulator, client, django_capture_on_commit_callbacks
):
    payment = _pushed_payment(simulator, django_capture_on_commit_callbacks)
    with minutes_later(PAYMENTS_AFTER + 1):
        poll_due()

    answer = post_late(client, dropped(simulator, payment.reference, "SUCCESS"), "payments")

    assert answer["status"] == "duplicate"
    assert LedgerTransaction.objects.filter(payment=payment, kind=LedgerTransaction.Kind.PAYMENT_CAPTURE).count() == 1


@pytest.mark.django_db
def test_a_dropped_payment_failure_is_recovered_by_the_poller(start, django_capture_on_commit_callbacks):
    payment = _pushed_payment(start(outcome="failed"), django_capture_on_commit_callbacks)

    with minutes_later(PAYMENTS_AFTER + 1):
        poll_due()

    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payment.failure_reason == "Insufficient balance"
    assert WebhookEvent.objects.get(source=WebhookEvent.Source.POLL).event_name == "PAYMENT FAILED"


@pytest.mark.django_db
def test_a_payment_still_in_progress_at_clickpesa_changes_nothing_and_stores_no_event(
    simulator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_start(OrderFactory(), phone_number=PHONE)  # the buyer has not answered the push

    with minutes_later(PAYMENTS_AFTER + 1):
        [result] = poll_due().results

    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert payment.last_polled_at is not None
    assert (result.gateway_status, result.outcome) == ("PROCESSING", "no event")
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_a_payment_whose_push_clickpesa_never_got_is_failed_with_the_push_error(
    simulator, django_capture_on_commit_callbacks
):
    simulator.fail_next("/payments/initiate-ussd-push-request", status=503, message="Service Unavailable")
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_start(OrderFactory(), phone_number=PHONE)

    with minutes_later(PAYMENTS_AFTER + 1):
        poll_due()

    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payment.failure_reason.startswith("ClickPesa has no record of this payment; the USSD push failed: ")
    assert WebhookEvent.objects.get(source=WebhookEvent.Source.POLL).status == "PROCESSED"


@pytest.mark.django_db
def test_payments_younger_than_their_period_are_not_asked_about(simulator, django_capture_on_commit_callbacks):
    # The payment half of the former mixed test; the payout half is in tests/revenue/test_polling.py.
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_start(OrderFactory(), phone_number=PHONE)

    with minutes_later(PAYMENTS_AFTER - 1):
        summary = poll_due()

    assert summary.results == []
    assert queries(simulator, payment.reference) == 0


@pytest.mark.django_db
def test_payment_requery_applies_clickpesas_answer_now(simulator, django_capture_on_commit_callbacks):
    payment = _pushed_payment(simulator, django_capture_on_commit_callbacks)

    result = payment_requery(payment, by=UserFactory(is_staff=True))

    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert result.event.status == "PROCESSED"


# Beyond the recovery itself: what the payment poller asks about, and when.


@pytest.mark.django_db
def test_the_beat_task_polls_overdue_payments_and_says_how_many_it_asked_about(
    simulator, django_capture_on_commit_callbacks
):
    payment = _pushed_payment(simulator, django_capture_on_commit_callbacks)

    with minutes_later(PAYMENTS_AFTER + 1):
        asked = payments_poll()

    payment.refresh_from_db()
    assert asked == 1
    assert payment.status == Payment.Status.COMPLETED
    assert queries(simulator, payment.reference) == 1


@pytest.mark.django_db
def test_a_payment_that_is_no_longer_pending_is_never_asked_about(simulator, django_capture_on_commit_callbacks):
    payment = _pushed_payment(simulator, django_capture_on_commit_callbacks)
    payment_requery(payment)  # completed now
    asked_before = queries(simulator, payment.reference)

    with minutes_later(PAYMENTS_AFTER + 1):
        summary = poll_payments_due()

    assert summary.results == []
    assert queries(simulator, payment.reference) == asked_before


@pytest.mark.django_db
def test_a_payment_is_asked_about_at_most_once_per_period(simulator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_start(OrderFactory(), phone_number=PHONE)  # in progress at ClickPesa, forever

    for minutes in (PAYMENTS_AFTER + 1, PAYMENTS_AFTER + 10, 2 * PAYMENTS_AFTER + 2):
        with minutes_later(minutes):
            poll_payments_due()

    assert queries(simulator, payment.reference) == 2


@pytest.mark.django_db
def test_a_run_asks_about_the_oldest_payments_first_up_to_its_limit(simulator):
    first = PaymentFactory()
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        second = PaymentFactory()
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        third = PaymentFactory()

    with minutes_later(PAYMENTS_AFTER + 5):
        summary = poll_payments_due(limit=2)

    assert [r.reference for r in summary.results] == [first.reference, second.reference]
    third.refresh_from_db()
    assert third.last_polled_at is None
    assert queries(simulator, third.reference) == 0


@pytest.mark.django_db
def test_a_payment_clickpesa_never_heard_of_without_a_push_error_is_left_pending(simulator):
    payment = PaymentFactory()  # no phone number: no push was ever asked for

    with minutes_later(PAYMENTS_AFTER + 1):
        [result] = poll_payments_due().results

    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert payment.last_polled_at is not None
    assert (result.outcome, result.detail) == ("unknown", "ClickPesa has no record of this payment")
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_a_failed_payment_query_is_reported_and_changes_nothing(simulator, django_capture_on_commit_callbacks):
    payment = _pushed_payment(simulator, django_capture_on_commit_callbacks)
    simulator.fail_next(f"/payments/{payment.reference}", status=500)

    with minutes_later(PAYMENTS_AFTER + 1):
        [result] = poll_payments_due().results

    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert (result.outcome, result.error) == ("error", "clickpesa_server_error: Internal Server Error")
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_reconciling_since_a_moment_asks_now_about_every_pending_payment_created_since(
    simulator, django_capture_on_commit_callbacks
):
    old = PaymentFactory()
    since = timezone.now()
    recent = _pushed_payment(simulator, django_capture_on_commit_callbacks)

    with ClickPesaClient() as api:
        summary = poll_payments_since(since, client=api)

    recent.refresh_from_db()
    assert [r.reference for r in summary.results] == [recent.reference]
    assert recent.status == Payment.Status.COMPLETED
    assert queries(simulator, old.reference) == 0
