"""Settling seen from outside: the settle lag histogram in /metrics, the backlog, and its alert."""

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from clickpesa import inbox
from clickpesa.models import WebhookEvent
from monitoring.alerts import alerts_check
from notifications.models import Notification
from tests.factories import PaymentFactory, UserFactory
from tests.webhooks import broker_down, payment_body, post_webhook, use_checksum_key

pytestmark = pytest.mark.django_db

LAG = "blinno_webhook_settle_lag_seconds"


@pytest.fixture(autouse=True)
def queued(settings):
    use_checksum_key(settings, "checksum-key")
    settings.CLICKPESA_WEBHOOK_SETTLE = "queued"
    with broker_down():
        yield


@pytest.fixture
def support():
    member = UserFactory(is_staff=True, email="support@blinno.example")
    member.groups.add(Group.objects.get_or_create(name="Support")[0])
    return member


def _acknowledge(count: int = 1) -> list[int]:
    client = Client()
    return [
        post_webhook(client, payment_body(PaymentFactory()), key="checksum-key").json()["event"] for _ in range(count)
    ]


def test_the_settle_lag_of_recent_deliveries_is_a_histogram(scrape):
    before = scrape()
    _acknowledge(2)
    # Settled 100 seconds (and the test's own time, well under a minute) after they were received.
    with time_machine.travel(timezone.now() + timedelta(seconds=100)):
        inbox.settle_batch()
        after = scrape()

    assert after.value(f"{LAG}_count") - before.value(f"{LAG}_count") == 2
    assert after.value(f"{LAG}_bucket", le="60.0") == before.value(f"{LAG}_bucket", le="60.0")
    assert after.value(f"{LAG}_bucket", le="300.0") - before.value(f"{LAG}_bucket", le="300.0") == 2
    assert 200 <= after.value(f"{LAG}_sum") - before.value(f"{LAG}_sum") < 320


def test_the_backlog_counts_unsettled_events_and_the_oldest_ones_age():
    _acknowledge(3)

    with time_machine.travel(timezone.now() + timedelta(seconds=90)):
        backlog = inbox.backlog()

    assert backlog.count == 3
    assert backlog.oldest_age >= 90


def test_support_is_alerted_when_an_acknowledged_event_waits_too_long(settings, support):
    settings.MONITORING_UNSETTLED_AFTER_MINUTES = 5
    _acknowledge()

    with time_machine.travel(timezone.now() + timedelta(minutes=4)):
        assert alerts_check().unsettled_alerted is False
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert alerts_check().unsettled_alerted is True
        alerts_check()

    [alert] = Notification.objects.filter(kind=Notification.Kind.STAFF_ALERT)
    assert alert.recipient == support
    assert alert.subject == "[Blinno alert] 1 acknowledged webhook(s) not settled; the oldest waits for 6 minutes"
    assert "webhook_settle" in alert.body


def test_no_alert_once_the_settler_has_caught_up(settings, support):
    _acknowledge()
    inbox.settle_batch()

    with time_machine.travel(timezone.now() + timedelta(hours=1)):
        assert alerts_check().unsettled_alerted is False
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.PROCESSED
