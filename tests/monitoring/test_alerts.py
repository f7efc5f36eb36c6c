"""Alerts to staff from the periodic check: DEAD events, webhook failure rate, stuck payouts; once per window."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.utils import timezone

from blinno.celery import app as celery_app
from clickpesa.models import WebhookEvent
from monitoring.alerts import alerts_check, window_start
from monitoring.tasks import monitoring_alerts_check
from notifications.models import Notification
from revenue.ledger import ledger_audit
from revenue.models import LedgerAuditRun
from tests.factories import PaymentFactory, PayoutFactory, UserFactory
from tests.faults import failing_inserts
from tests.webhooks import payment_body, post_webhook, use_checksum_key

pytestmark = pytest.mark.django_db

ALERT = Notification.Kind.STAFF_ALERT


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


@pytest.fixture
def support():
    member = UserFactory(is_staff=True, email="support@blinno.example")
    member.groups.add(Group.objects.get_or_create(name="Support")[0])
    return member


def _alerts(key_prefix: str = "") -> list[Notification]:
    return list(Notification.objects.filter(kind=ALERT, dedupe_key__startswith=key_prefix).order_by("pk"))


def _kill_event(client, settings) -> WebhookEvent:
    """An event given up at once: its only attempt fails on the ledger insert."""
    settings.CLICKPESA_WEBHOOK_MAX_ATTEMPTS = 1
    with failing_inserts("revenue_ledgertransaction"):
        event_id = post_webhook(client, payment_body(PaymentFactory())).json()["event"]
    return WebhookEvent.objects.get(pk=event_id)


def test_a_dead_event_the_receiver_announced_is_not_announced_again(client, settings, support):
    event = _kill_event(client, settings)
    assert event.status == WebhookEvent.Status.DEAD
    [announced] = _alerts(f"webhook-event:{event.pk}:dead")

    report = alerts_check()

    assert report.dead_events == 1
    assert _alerts() == [announced]


def test_a_dead_event_whose_alert_could_not_be_written_is_announced_by_the_check(client, settings, support):
    # Every notification insert fails: the business work and the receiver's alert alike.
    settings.CLICKPESA_WEBHOOK_MAX_ATTEMPTS = 1
    with failing_inserts("notifications_notification"):
        event_id = post_webhook(client, payment_body(PaymentFactory())).json()["event"]
    assert WebhookEvent.objects.get(pk=event_id).status == WebhookEvent.Status.DEAD
    assert _alerts() == []

    alerts_check()
    alerts_check()

    [alert] = _alerts()
    assert alert.recipient == support
    assert alert.dedupe_key == f"webhook-event:{event_id}:dead:user:{support.pk}"
    assert f"Webhook event #{event_id} failed 1 times" in alert.subject
    assert "PAYMENT RECEIVED" in alert.body


def test_dead_events_older_than_a_week_are_left_alone(client, settings, support):
    with (
        time_machine.travel(timezone.now() - timedelta(days=8), tick=False),
        failing_inserts("notifications_notification"),
    ):
        settings.CLICKPESA_WEBHOOK_MAX_ATTEMPTS = 1
        post_webhook(client, payment_body(PaymentFactory()))

    assert alerts_check().dead_events == 0
    assert _alerts() == []


def _deliveries(client, *, refused: int, good: int) -> None:
    for _ in range(refused):
        post_webhook(client, payment_body(PaymentFactory()), key="a-key-that-is-not-ours")
    for _ in range(good):
        post_webhook(client, payment_body(PaymentFactory()))


def test_a_high_failure_rate_alerts_support_once_per_window(client, settings, support):
    settings.MONITORING_WEBHOOK_FAILURE_WINDOW_MINUTES = 15
    settings.MONITORING_WEBHOOK_FAILURE_MIN_EVENTS = 10
    settings.MONITORING_WEBHOOK_FAILURE_RATE = 0.2
    _deliveries(client, refused=3, good=7)

    first = alerts_check()
    second = alerts_check()

    assert (first.failure_rate, first.failure_rate_alerted) == (pytest.approx(0.3), True)
    assert second.failure_rate_alerted is True  # still true, but written once: same window, same key
    [alert] = _alerts("monitoring:webhook-failure-rate:")
    assert alert.recipient == support
    assert alert.subject == "[Blinno alert] 30% of webhooks refused or failed in 15 minutes"
    assert "Of 10 webhook deliveries in the last 15 minutes, 3 were refused (4xx) and 0 failed" in alert.body
    assert "Refused 3 times: checksum invalid" in alert.body


def test_the_failure_rate_is_alerted_again_in_the_next_window(client, settings, support):
    settings.MONITORING_WEBHOOK_FAILURE_MIN_EVENTS = 4
    start = window_start(timezone.now(), timedelta(minutes=15))
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        _deliveries(client, refused=2, good=2)
        alerts_check()
    with time_machine.travel(start + timedelta(minutes=16), tick=False):
        _deliveries(client, refused=2, good=2)
        alerts_check()

    assert len(_alerts("monitoring:webhook-failure-rate:")) == 2


def test_processing_failures_count_towards_the_rate(client, settings, support):
    settings.MONITORING_WEBHOOK_FAILURE_MIN_EVENTS = 4
    with failing_inserts("revenue_ledgertransaction"):
        post_webhook(client, payment_body(PaymentFactory()))
    _deliveries(client, refused=0, good=3)

    report = alerts_check()

    assert report.failure_rate == pytest.approx(0.25)
    [alert] = _alerts("monitoring:webhook-failure-rate:")
    assert "0 were refused (4xx) and 1 failed in processing" in alert.body
    assert "Failed 1 times: ProgrammingError: insert into revenue_ledgertransaction refused by the test" in alert.body


def test_no_failure_rate_alert_below_the_threshold_or_the_minimum_volume(client, settings, support):
    settings.MONITORING_WEBHOOK_FAILURE_MIN_EVENTS = 10
    _deliveries(client, refused=5, good=0)
    few = alerts_check()
    _deliveries(client, refused=0, good=20)
    low = alerts_check()

    assert few.failure_rate is None
    assert (low.failure_rate, low.failure_rate_alerted) == (pytest.approx(0.2), True)
    settings.MONITORING_WEBHOOK_FAILURE_RATE = 0.25
    Notification.objects.filter(kind=ALERT).delete()
    assert alerts_check().failure_rate_alerted is False
    assert _alerts() == []


def test_a_stuck_payout_alerts_support_without_the_full_account_number(client, settings, support):
    settings.MONITORING_PAYOUT_STUCK_AFTER_HOURS = 24
    with time_machine.travel(timezone.now() - timedelta(hours=25), tick=False):
        stuck = PayoutFactory()
    PayoutFactory()

    report = alerts_check()
    alerts_check()

    assert report.stuck_payouts == 1
    [alert] = _alerts("monitoring:payouts-stuck:")
    assert alert.subject == "[Blinno alert] 1 payout(s) in flight for more than 24 hours"
    assert stuck.reference in alert.body
    assert f"****{stuck.method_snapshot['account_number'][-4:]}" in alert.body
    assert stuck.method_snapshot["account_number"] not in alert.body


def test_another_stuck_payout_is_announced_at_once_and_a_reminder_follows_the_repeat_window(client, settings, support):
    settings.MONITORING_ALERT_REPEAT_HOURS = 6
    now = window_start(timezone.now(), timedelta(hours=6)) + timedelta(hours=1)
    with time_machine.travel(now - timedelta(hours=30), tick=False):
        PayoutFactory()
    with time_machine.travel(now, tick=False):
        alerts_check()
    with time_machine.travel(now - timedelta(hours=25), tick=False):
        PayoutFactory()
    with time_machine.travel(now + timedelta(minutes=5), tick=False):
        alerts_check()
    with time_machine.travel(now + timedelta(minutes=10), tick=False):
        alerts_check()
    with time_machine.travel(now + timedelta(hours=6), tick=False):
        alerts_check()

    subjects = [a.subject for a in _alerts("monitoring:payouts-stuck:")]
    assert subjects == [
        "[Blinno alert] 1 payout(s) in flight for more than 24 hours",
        "[Blinno alert] 2 payout(s) in flight for more than 24 hours",
        "[Blinno alert] 2 payout(s) in flight for more than 24 hours",
    ]


def test_a_ledger_audit_difference_is_left_to_the_audit_task(settings, support):
    ledger_audit()
    LedgerAuditRun.objects.create(
        ok=False, accounts_checked=1, transactions_checked=1, differences=[{"problem": "x"}], duration_seconds=0.1
    )

    alerts_check()

    assert not Notification.objects.exists()


def test_the_check_is_a_task_celery_beat_runs_every_few_minutes(settings, support):
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"].startswith("monitoring."))

    assert entry["task"] in celery_app.tasks
    assert entry["schedule"] <= 600
    assert monitoring_alerts_check.delay().get() == {
        "dead_events": 0,
        "failure_rate": None,
        "failure_rate_alerted": False,
        "stuck_payouts": 0,
        "dead_storefront_events": 0,
        "unsettled_alerted": False,
    }
