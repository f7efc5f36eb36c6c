"""GET /metrics: webhook counters and latency from the receiver, gauges read from the database at scrape time."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from clickpesa.models import WebhookEvent
from revenue.ledger import ledger_audit
from revenue.models import LedgerAuditRun
from tests.factories import PaymentFactory, PayoutFactory
from tests.faults import failing_inserts
from tests.webhooks import payment_body, post_webhook, sample_body, use_checksum_key

pytestmark = pytest.mark.django_db

RECEIVED = {"endpoint": "payments", "source": "webhook", "event": "PAYMENT RECEIVED"}


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


@pytest.mark.usefixtures("inline_settling")
def test_it_counts_each_delivery_by_endpoint_event_and_outcome(client, scrape):
    payment = PaymentFactory()
    before = scrape(client)

    post_webhook(client, payment_body(payment))
    post_webhook(client, payment_body(payment))
    post_webhook(client, payment_body(payment), sign=False)
    post_webhook(client, sample_body("payout_refunded", reference="NOSUCHPAYOUT1"), endpoint="payouts")

    after = scrape(client)
    counted = "blinno_webhooks_total"
    for outcome, delta in (("processed", 1), ("duplicate", 1), ("rejected", 1)):
        assert (
            after.value(counted, **RECEIVED, outcome=outcome) - before.value(counted, **RECEIVED, outcome=outcome)
            == delta
        )
    unmatched = {"endpoint": "payouts", "source": "webhook", "event": "PAYOUT REFUNDED", "outcome": "unmatched"}
    assert after.value(counted, **unmatched) - before.value(counted, **unmatched) == 1


@pytest.mark.usefixtures("inline_settling")
def test_an_event_name_nobody_handles_is_counted_as_other(client, scrape):
    before = scrape(client)

    response = post_webhook(client, {"event": "SOMETHING NEW 8f2c", "data": {"orderReference": "X1"}})

    assert response.json()["status"] == "ignored"
    labels = {"endpoint": "payments", "source": "webhook", "event": "other", "outcome": "ignored"}
    assert (
        scrape(client).value("blinno_webhooks_total", **labels) - before.value("blinno_webhooks_total", **labels) == 1
    )
    assert not any("8f2c" in str(key) for key in scrape(client).samples)


@pytest.mark.usefixtures("inline_settling")
def test_a_delivery_that_fails_in_processing_is_counted_as_failed(client, scrape):
    payment = PaymentFactory()
    before = scrape(client).value("blinno_webhooks_total", **RECEIVED, outcome="failed")

    with failing_inserts("revenue_ledgertransaction"):
        assert post_webhook(client, payment_body(payment)).status_code == 500

    assert scrape(client).value("blinno_webhooks_total", **RECEIVED, outcome="failed") - before == 1


def test_it_times_each_delivery(client, scrape):
    payment = PaymentFactory()
    labels = {"endpoint": "payments", "source": "webhook"}
    before = scrape(client)

    post_webhook(client, payment_body(payment))

    after = scrape(client)
    assert (
        after.value("blinno_webhook_duration_seconds_count", **labels)
        - before.value("blinno_webhook_duration_seconds_count", **labels)
        == 1
    )
    assert after.value("blinno_webhook_duration_seconds_sum", **labels) > before.value(
        "blinno_webhook_duration_seconds_sum", **labels
    )
    assert (
        after.value("blinno_webhook_duration_seconds_bucket", **labels, le="+Inf")
        - before.value("blinno_webhook_duration_seconds_bucket", **labels, le="+Inf")
        == 1
    )


def test_it_reports_unfinished_events_and_the_age_of_the_oldest(client, scrape, settings):
    settings.CLICKPESA_WEBHOOK_MAX_ATTEMPTS = 2
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    with time_machine.travel(ten_minutes_ago, tick=False), failing_inserts("revenue_ledgertransaction"):
        post_webhook(client, payment_body(PaymentFactory()))
    with failing_inserts("revenue_ledgertransaction"):
        post_webhook(client, payment_body(PaymentFactory()))
    settings.CLICKPESA_WEBHOOK_MAX_ATTEMPTS = 1
    with failing_inserts("revenue_ledgertransaction"):
        post_webhook(client, payment_body(PaymentFactory()))

    metrics = scrape(client)

    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).count() == 2
    assert metrics.value("blinno_webhook_events_unfinished", status="FAILED") == 2
    assert metrics.value("blinno_webhook_events_unfinished", status="DEAD") == 1
    assert metrics.value("blinno_webhook_events_unfinished", status="RECEIVED") == 0
    assert 600 <= metrics.value("blinno_webhook_event_oldest_age_seconds", status="FAILED") < 660
    assert metrics.value("blinno_webhook_event_oldest_age_seconds", status="RECEIVED") == 0
    assert metrics.value("blinno_database_up") == 1


def test_it_reports_notifications_waiting_to_be_sent(client, scrape):
    # In this test's transaction nothing commits, so nothing is enqueued: the outbox keeps them.
    with time_machine.travel(timezone.now() - timedelta(minutes=3), tick=False):
        post_webhook(client, payment_body(PaymentFactory()))

    metrics = scrape(client)

    assert metrics.value("blinno_notifications", status="PENDING") == 2
    assert metrics.value("blinno_notifications", status="SENDING") == 0
    assert 180 <= metrics.value("blinno_notification_oldest_pending_age_seconds") < 240


def test_it_reports_payouts_in_flight_and_those_stuck_past_the_threshold(client, scrape, settings):
    settings.MONITORING_PAYOUT_STUCK_AFTER_HOURS = 24
    with time_machine.travel(timezone.now() - timedelta(hours=25), tick=False):
        PayoutFactory()
    PayoutFactory()

    metrics = scrape(client)

    assert metrics.value("blinno_payouts_in_flight", status="PENDING") == 2
    assert metrics.value("blinno_payouts_stuck", status="PENDING") == 1
    assert metrics.value("blinno_payouts_stuck", status="PROCESSING") == 0
    assert 25 * 3600 <= metrics.value("blinno_payout_oldest_in_flight_age_seconds", status="PENDING") < 25 * 3600 + 60


def test_it_reports_the_last_ledger_audit_verdict_and_its_age(client, scrape):
    assert not scrape(client).has("blinno_ledger_audit_ok")
    with time_machine.travel(timezone.now() - timedelta(hours=2), tick=False):
        ledger_audit()

    metrics = scrape(client)

    assert metrics.value("blinno_ledger_audit_ok") == 1
    assert metrics.value("blinno_ledger_audit_differences") == 0
    assert 7200 <= metrics.value("blinno_ledger_audit_age_seconds") < 7260


def test_a_failed_audit_shows_as_not_ok_with_its_differences(client, scrape):
    ledger_audit()
    LedgerAuditRun.objects.create(
        ok=False,
        accounts_checked=3,
        transactions_checked=9,
        differences=[{"problem": "cached balance differs from entries"}] * 2,
        duration_seconds=0.1,
    )

    metrics = scrape(client)

    assert metrics.value("blinno_ledger_audit_ok") == 0
    assert metrics.value("blinno_ledger_audit_differences") == 2


def test_with_a_scrape_token_only_its_bearer_reads_the_metrics(client, settings):
    settings.MONITORING_METRICS_TOKEN = "scrape-token-1"

    refused = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-2"})
    allowed = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-1"})

    assert (refused.status_code, wrong.status_code, allowed.status_code) == (401, 401, 200)
    assert b"blinno_database_up" in allowed.content
    assert b"blinno" not in refused.content


def test_a_scraper_that_asks_for_openmetrics_gets_it(client):
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})

    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.rstrip().endswith(b"# EOF")
