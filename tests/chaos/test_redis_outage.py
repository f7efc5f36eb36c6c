"""Redis (the broker) stops while webhooks keep arriving: every one answers 200, nothing is lost,
and the notifications wait in the outbox until Redis is back and the sweeper sends them.

The broker is a redis-server of the test's own on a free port, killed (SIGKILL) and started
again on the same port: the machine's Redis is never touched. The worker is a real Celery
worker subprocess on it, alive through the outage.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client

from clickpesa.models import WebhookEvent
from notifications.models import Notification
from notifications.tasks import notifications_sweep
from payments.models import Payment
from revenue.models import LedgerTransaction
from tests.celery_worker import CeleryWorker, celery_publisher, celery_worker, wait_for  # noqa: F401
from tests.chaos.mail import sent_emails
from tests.chaos.servers import RedisServer
from tests.factories import PaymentFactory
from tests.webhooks import payment_body, post_webhook, use_checksum_key

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BEFORE, DURING = 2, 6


@pytest.fixture(scope="module")
def broker(tmp_path_factory) -> RedisServer:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def celery_broker_url(broker: RedisServer) -> str:
    return broker.url(0)


def _deliver(payment: Payment) -> tuple[int, dict, float]:
    started = time.monotonic()
    response = post_webhook(Client(), payment_body(payment))
    return response.status_code, response.json(), time.monotonic() - started


@pytest.fixture
def worker(celery_worker: CeleryWorker, celery_publisher) -> CeleryWorker:  # noqa: F811
    return celery_worker


# Settled in the request: with queued settling the nudges of the outage are lost and beat's sweep
# settles the events after it (tests/chaos/test_settler_kill.py).
@pytest.mark.usefixtures("inline_settling")
def test_webhooks_during_a_broker_outage_are_processed_and_their_notifications_sent_after_it(
    settings, broker: RedisServer, worker: CeleryWorker
):
    use_checksum_key(settings)
    payments = [PaymentFactory() for _ in range(BEFORE + DURING)]
    for payment in payments[:BEFORE]:
        code, body, _ = _deliver(payment)
        assert (code, body["status"]) == (200, "processed")
    wait_for(
        lambda: Notification.objects.filter(status=Notification.Status.SENT).count() == 2 * BEFORE,
        what="the worker to send while the broker is up",
    )

    broker.stop()
    answers = [_deliver(payment) for payment in payments[BEFORE:]]

    assert [code for code, _, _ in answers] == [200] * DURING
    assert [body["status"] for _, body, _ in answers] == ["processed"] * DURING
    assert max(seconds for _, _, seconds in answers) < 5
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).count() == BEFORE + DURING
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_CAPTURE).count() == BEFORE + DURING
    assert Notification.objects.filter(status=Notification.Status.PENDING).count() == 2 * DURING

    broker.start()
    wait_for(worker.ping, timeout=30, what="the worker to reconnect to the broker")
    # Two minutes on, beat runs the sweep: the rows written during the outage are overdue.
    Notification.objects.filter(status=Notification.Status.PENDING).update(
        next_attempt_at=F("next_attempt_at") - timedelta(minutes=3)
    )
    notifications_sweep.delay()

    wait_for(
        lambda: Notification.objects.filter(status=Notification.Status.SENT).count() == 2 * (BEFORE + DURING),
        timeout=30,
        what="the sweeper to drain the outbox",
    )
    assert Notification.objects.filter(attempts=1).count() == 2 * (BEFORE + DURING)
    sent = sent_emails(worker.emails())
    assert sorted(sent.values()) == [1] * 2 * (BEFORE + DURING)
    assert set(sent) == {(n.email, n.subject) for n in Notification.objects.all()}
