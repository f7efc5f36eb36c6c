"""Missed-webhook recovery (clickpesa.polling): ClickPesa's answers applied as poll events.

The simulator drops every webhook in these tests, so only the poller can bring the news; a
"late" webhook is the dropped delivery POSTed to our real endpoint afterwards.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import timezone

from clickpesa.models import WebhookEvent
from clickpesa.polling import PollSummary
from devtools.simulator import ClickPesaSimulator, Delivery
from payments.models import Order, Payment
from payments.polling import poll_payments_due
from payments.services import payment_requery, payment_start
from revenue.models import LedgerTransaction, Payout, PayoutStatusChange
from revenue.polling import poll_payouts_due
from revenue.services import creator_balance, payout_requery
from revenue.submission import MAX_ATTEMPTS, payout_submit
from revenue.tasks import payouts_poll
from tests.factories import OrderFactory, PayoutFactory, UserFactory

KEY = "poll-checksum-key"
PHONE = "255754000111"
PAYOUTS_AFTER = 30
PAYMENTS_AFTER = 15


def poll_due() -> PollSummary:
    """What Celery beat's two polling tasks do: payments, then payouts."""
    return PollSummary(poll_payments_due().results + poll_payouts_due().results)


@pytest.fixture(autouse=True)
def clickpesa_settings(settings):
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    settings.CLICKPESA_CLIENT_ID = "sim-client"
    settings.CLICKPESA_API_KEY = "sim-key"
    settings.CLICKPESA_CHECKSUM_KEY = KEY
    settings.CLICKPESA_POLL_PAYOUTS_AFTER_MINUTES = PAYOUTS_AFTER
    settings.CLICKPESA_POLL_PAYMENTS_AFTER_MINUTES = PAYMENTS_AFTER
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "poll"}}
    cache.clear()


@pytest.fixture
def start(settings):
    """Start a simulator that drops every webhook, with the given knobs; point our client at it."""
    started: list[ClickPesaSimulator] = []

    def start(**knobs) -> ClickPesaSimulator:
        simulator = ClickPesaSimulator(drop_rate=1.0, **knobs).start()
        started.append(simulator)
        settings.CLICKPESA_BASE_URL = simulator.url
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.fixture
def simulator(start):
    return start()


def _minutes_later(minutes: float):
    return time_machine.travel(timezone.now() + timedelta(minutes=minutes))


def _queries(simulator: ClickPesaSimulator, reference: str) -> int:
    return sum(1 for r in simulator.requests if r.method == "GET" and r.path.endswith(f"/{reference}"))


def _processing_payout(simulator: ClickPesaSimulator, outcome: str = "success") -> Payout:
    """A payout ClickPesa accepted, whose webhooks were all dropped after it reached ``outcome``."""
    payout = PayoutFactory()
    simulator.plan(payout.reference, outcome)
    assert payout_submit(payout.pk).result == "submitted"
    simulator.deliver_pending()
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PROCESSING
    return payout


def _pushed_payment(simulator: ClickPesaSimulator, capture_callbacks) -> Payment:
    """A payment whose USSD push ClickPesa accepted and that ended as the simulator's outcome says, unheard."""
    with capture_callbacks(execute=True):
        payment = payment_start(OrderFactory(), phone_number=PHONE)
    simulator.deliver_pending()
    payment.refresh_from_db()
    assert (payment.status, payment.push_sent_at is not None) == (Payment.Status.PENDING, True)
    return payment


def _dropped(simulator: ClickPesaSimulator, reference: str, status: str) -> Delivery:
    return next(
        d for d in simulator.deliveries if d.order_reference == reference and d.body["data"]["status"] == status
    )


def _post_late(client, delivery: Delivery, endpoint: str) -> dict:
    path = {"payouts": "/api/revenue/payouts/webhook", "payments": "/api/payments/webhook"}[endpoint]
    response = client.post(path, data=json.dumps(delivery.body), content_type="application/json")
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_a_dropped_payout_webhook_is_recovered_by_the_poller(simulator):
    payout = _processing_payout(simulator)

    with _minutes_later(PAYOUTS_AFTER + 1):
        summary = poll_due()

    payout.refresh_from_db()
    event = WebhookEvent.objects.get(source=WebhookEvent.Source.POLL)
    assert payout.status == Payout.Status.PAID
    assert (event.event_name, event.order_reference) == ("PAYOUT INITIATED", payout.reference)
    assert event.status == WebhookEvent.Status.PROCESSED
    change = payout.status_changes.last()
    assert (change.to_status, change.source, change.webhook_event) == (
        Payout.Status.PAID,
        PayoutStatusChange.Source.POLL,
        event,
    )
    assert [r.outcome for r in summary.results] == ["PROCESSED"]


@pytest.mark.django_db
def test_a_late_real_payout_webhook_after_the_poll_is_a_duplicate(simulator, client):
    payout = _processing_payout(simulator)
    with _minutes_later(PAYOUTS_AFTER + 1):
        poll_due()

    answer = _post_late(client, _dropped(simulator, payout.reference, "SUCCESS"), "payouts")

    event = WebhookEvent.objects.get(source=WebhookEvent.Source.POLL)
    assert answer == {"status": "duplicate", "event": event.pk}
    event.refresh_from_db()
    assert event.duplicate_count == 1
    assert LedgerTransaction.objects.filter(payout=payout, kind=LedgerTransaction.Kind.PAYOUT_SETTLE).count() == 1
    assert payout.status_changes.filter(to_status=Payout.Status.PAID).count() == 1


@pytest.mark.django_db
def test_a_payout_clickpesa_reports_failed_is_failed_by_the_poller_and_its_money_returned_once(simulator):
    payout = _processing_payout(simulator, outcome="failed")  # ClickPesa sends no webhook for it

    with _minutes_later(PAYOUTS_AFTER + 1):
        poll_due()
    payout_requery(payout)  # asked again: the same answer

    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED
    assert LedgerTransaction.objects.filter(payout=payout, kind=LedgerTransaction.Kind.PAYOUT_RETURN).count() == 1
    assert creator_balance(payout.creator).in_flight == 0
    assert WebhookEvent.objects.get(source=WebhookEvent.Source.POLL).duplicate_count == 1


@pytest.mark.django_db
def test_a_dropped_payment_webhook_is_recovered_by_the_poller(simulator, django_capture_on_commit_callbacks):
    payment = _pushed_payment(simulator, django_capture_on_commit_callbacks)

    with _minutes_later(PAYMENTS_AFTER + 1):
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
    with _minutes_later(PAYMENTS_AFTER + 1):
        poll_due()

    answer = _post_late(client, _dropped(simulator, payment.reference, "SUCCESS"), "payments")

    assert answer["status"] == "duplicate"
    assert LedgerTransaction.objects.filter(payment=payment, kind=LedgerTransaction.Kind.PAYMENT_CAPTURE).count() == 1


@pytest.mark.django_db
def test_a_dropped_payment_failure_is_recovered_by_the_poller(start, django_capture_on_commit_callbacks):
    payment = _pushed_payment(start(outcome="failed"), django_capture_on_commit_callbacks)

    with _minutes_later(PAYMENTS_AFTER + 1):
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

    with _minutes_later(PAYMENTS_AFTER + 1):
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

    with _minutes_later(PAYMENTS_AFTER + 1):
        poll_due()

    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payment.failure_reason.startswith("ClickPesa has no record of this payment; the USSD push failed: ")
    assert WebhookEvent.objects.get(source=WebhookEvent.Source.POLL).status == "PROCESSED"


@pytest.mark.django_db
def test_rows_younger_than_their_period_are_not_asked_about(simulator, django_capture_on_commit_callbacks):
    payout = _processing_payout(simulator)
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_start(OrderFactory(), phone_number=PHONE)

    with _minutes_later(PAYMENTS_AFTER - 1):
        summary = poll_due()

    assert summary.results == []
    assert _queries(simulator, payout.reference) == _queries(simulator, payment.reference) == 0


@pytest.mark.django_db
def test_a_row_is_asked_about_at_most_once_per_period(simulator):
    payout = PayoutFactory()
    simulator.plan(payout.reference, "success")
    payout_submit(payout.pk)  # in flight at ClickPesa; its webhooks are never delivered

    for minutes in (PAYOUTS_AFTER + 1, PAYOUTS_AFTER + 20, 2 * PAYOUTS_AFTER + 2):
        with _minutes_later(minutes):
            poll_due()

    assert _queries(simulator, payout.reference) == 2


@pytest.mark.django_db
def test_a_failed_query_is_reported_and_changes_nothing(simulator):
    payout = _processing_payout(simulator)
    simulator.fail_next(f"/payouts/{payout.reference}", status=500)

    with _minutes_later(PAYOUTS_AFTER + 1):
        [result] = poll_due().results

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PROCESSING
    assert (result.outcome, result.error) == ("error", "clickpesa_server_error: Internal Server Error")
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_the_beat_task_polls_overdue_rows(simulator):
    payout = _processing_payout(simulator)

    with _minutes_later(PAYOUTS_AFTER + 1):
        asked = payouts_poll()

    payout.refresh_from_db()
    assert asked == 1
    assert payout.status == Payout.Status.PAID


@pytest.mark.django_db
def test_payout_requery_applies_clickpesas_answer_now_and_names_who_asked(simulator):
    payout = _processing_payout(simulator, outcome="reversed_after_success")
    agent = UserFactory(is_staff=True, username="agent1")

    result = payout_requery(payout, by=agent)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.REVERSED
    assert result.event.source == WebhookEvent.Source.POLL
    assert result.event.headers["x-requested-by"] == "agent1"
    assert "REVERSED" in result.detail


@pytest.mark.django_db
def test_payment_requery_applies_clickpesas_answer_now(simulator, django_capture_on_commit_callbacks):
    payment = _pushed_payment(simulator, django_capture_on_commit_callbacks)

    result = payment_requery(payment, by=UserFactory(is_staff=True))

    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert result.event.status == "PROCESSED"


@pytest.mark.django_db
def test_payout_requery_submits_again_a_payout_whose_attempts_ran_out_and_that_clickpesa_never_got(
    simulator, django_capture_on_commit_callbacks
):
    Group.objects.get_or_create(name="Support")
    payout = PayoutFactory()
    simulator.fail_next("/payouts/preview-mobile-money-payout", status=503, times=MAX_ATTEMPTS)
    for hours in range(MAX_ATTEMPTS):
        with time_machine.travel(timezone.now() + timedelta(hours=hours, minutes=1)):
            payout_submit(payout.pk)
    payout.refresh_from_db()
    assert (payout.status, payout.next_submission_at) == (Payout.Status.PENDING, None)

    staff = UserFactory(is_staff=True)
    with (
        time_machine.travel(timezone.now() + timedelta(hours=MAX_ATTEMPTS)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = payout_requery(payout, by=staff)

    payout.refresh_from_db()
    assert result.detail == "ClickPesa has no record of this payout; submitted again"
    assert payout.status == Payout.Status.PROCESSING
    assert payout.reference in simulator.payouts
