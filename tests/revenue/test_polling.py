"""Missed payout webhooks (revenue.polling): ClickPesa's answers applied as poll events.

The simulator drops every webhook in these tests, so only the poller can bring the news; a
"late" webhook is the dropped delivery POSTed to our real endpoint afterwards (tests.polling).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone

from clickpesa.models import WebhookEvent
from devtools.simulator import ClickPesaSimulator
from revenue.models import LedgerTransaction, Payout, PayoutStatusChange
from revenue.services import creator_balance, payout_requery
from revenue.submission import MAX_ATTEMPTS, payout_submit
from revenue.tasks import payouts_poll
from tests.factories import PayoutFactory, UserFactory
from tests.polling import (
    PAYMENTS_AFTER,
    PAYOUTS_AFTER,
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


def _processing_payout(simulator: ClickPesaSimulator, outcome: str = "success") -> Payout:
    """A payout ClickPesa accepted, whose webhooks were all dropped after it reached ``outcome``."""
    payout = PayoutFactory(submitted=False)
    simulator.plan(payout.reference, outcome)
    assert payout_submit(payout.pk).result == "submitted"
    simulator.deliver_pending()
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PROCESSING
    return payout


@pytest.mark.django_db
def test_a_dropped_payout_webhook_is_recovered_by_the_poller(simulator):
    payout = _processing_payout(simulator)

    with minutes_later(PAYOUTS_AFTER + 1):
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
    with minutes_later(PAYOUTS_AFTER + 1):
        poll_due()

    answer = post_late(client, dropped(simulator, payout.reference, "SUCCESS"), "payouts")

    event = WebhookEvent.objects.get(source=WebhookEvent.Source.POLL)
    assert answer == {"status": "duplicate", "event": event.pk}
    event.refresh_from_db()
    assert event.duplicate_count == 1
    assert LedgerTransaction.objects.filter(payout=payout, kind=LedgerTransaction.Kind.PAYOUT_SETTLE).count() == 1
    assert payout.status_changes.filter(to_status=Payout.Status.PAID).count() == 1


@pytest.mark.django_db
def test_a_payout_clickpesa_reports_failed_is_failed_by_the_poller_and_its_money_returned_once(simulator):
    payout = _processing_payout(simulator, outcome="failed")  # ClickPesa sends no webhook for it

    with minutes_later(PAYOUTS_AFTER + 1):
        poll_due()
    payout_requery(payout)  # asked again: the same answer

    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED
    assert LedgerTransaction.objects.filter(payout=payout, kind=LedgerTransaction.Kind.PAYOUT_RETURN).count() == 1
    assert creator_balance(payout.creator).in_flight == 0
    assert WebhookEvent.objects.get(source=WebhookEvent.Source.POLL).duplicate_count == 1


@pytest.mark.django_db
def test_payouts_younger_than_their_period_are_not_asked_about(simulator):
    # The payout half of the former mixed test; the payment half is in tests/payments/test_polling.py.
    payout = _processing_payout(simulator)

    with minutes_later(PAYMENTS_AFTER - 1):
        summary = poll_due()

    assert summary.results == []
    assert queries(simulator, payout.reference) == 0


@pytest.mark.django_db
def test_a_row_is_asked_about_at_most_once_per_period(simulator):
    payout = PayoutFactory(submitted=False)
    simulator.plan(payout.reference, "success")
    payout_submit(payout.pk)  # in flight at ClickPesa; its webhooks are never delivered

    for minutes in (PAYOUTS_AFTER + 1, PAYOUTS_AFTER + 20, 2 * PAYOUTS_AFTER + 2):
        with minutes_later(minutes):
            poll_due()

    assert queries(simulator, payout.reference) == 2


@pytest.mark.django_db
def test_a_failed_query_is_reported_and_changes_nothing(simulator):
    payout = _processing_payout(simulator)
    simulator.fail_next(f"/payouts/{payout.reference}", status=500)

    with minutes_later(PAYOUTS_AFTER + 1):
        [result] = poll_due().results

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PROCESSING
    assert (result.outcome, result.error) == ("error", "clickpesa_server_error: Internal Server Error")
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_the_beat_task_polls_overdue_rows(simulator):
    payout = _processing_payout(simulator)

    with minutes_later(PAYOUTS_AFTER + 1):
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
def test_payout_requery_submits_again_a_payout_whose_attempts_ran_out_and_that_clickpesa_never_got(
    simulator, django_capture_on_commit_callbacks
):
    Group.objects.get_or_create(name="Support")
    payout = PayoutFactory(submitted=False)
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
