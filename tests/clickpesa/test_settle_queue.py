"""The settler's tasks travel in their own queue beside the default one (blinno.celery)."""

import uuid
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from blinno.celery import app as celery_app
from blinno.celery import settle_queue
from clickpesa.models import WebhookEvent
from clickpesa.tasks import webhook_event_retry, webhook_settle
from notifications.models import Notification
from notifications.tasks import notification_deliver_many, notifications_sweep
from tests.celery_worker import (  # noqa: F401
    DEFAULT_BROKER_URL,
    celery_broker_url,
    celery_publisher,
    celery_worker,
    publishing_to,
    wait_for,
)
from tests.webhooks import encode, sample_body


@pytest.fixture
def broker():
    """A Redis database and a queue name of this test's own, emptied afterwards."""
    url = DEFAULT_BROKER_URL
    client = redis.Redis.from_url(url)
    queue = f"test-{uuid.uuid4().hex[:12]}"
    saved = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        with publishing_to(url):
            yield client, queue
    finally:
        celery_app.conf.task_default_queue = saved
        client.delete(queue, settle_queue(queue), *(k for k in client.keys(f"_kombu.binding*.{queue}*")))


def test_settling_goes_to_the_settle_queue_and_everything_else_to_the_default_one(broker):
    client, queue = broker
    webhook_settle.apply_async()
    webhook_event_retry.apply_async(args=[1], countdown=0)
    notifications_sweep.apply_async()
    assert client.llen(settle_queue(queue)) == 2
    assert client.llen(queue) == 1


def test_a_worker_started_without_queues_takes_both_the_settle_queue_first():
    default = settings.CELERY_TASK_DEFAULT_QUEUE
    assert [q.name for q in celery_app.conf.task_queues] == [settle_queue(default), default]
    assert celery_app.conf.broker_transport_options["queue_order_strategy"] == "priority"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_on_both_queues_settles_everything_waiting_before_it_mails(celery_worker, celery_publisher):  # noqa: F811
    """Money first: the e-mails were queued first, yet each settle task runs before any of them."""
    events = [_failed_event(n) for n in range(3)]
    notes = [_pending_email(n) for n in range(3)]
    celery_worker.stop()
    for note in notes:
        notification_deliver_many.apply_async(([note.pk],))
    for event in events:
        webhook_event_retry.apply_async((event.pk,))  # one retry, one event: in turn, they would alternate
    celery_worker.start()

    wait_for(lambda: Notification.objects.filter(status=Notification.Status.SENT).count() == len(notes))
    settled = WebhookEvent.objects.filter(pk__in=[e.pk for e in events]).values_list("processed_at", flat=True)
    sent = Notification.objects.values_list("sent_at", flat=True)
    assert None not in settled
    assert max(settled) < min(sent)


def _failed_event(n: int) -> WebhookEvent:
    """A delivery whose first attempt failed and whose retry is due: it settles as UNMATCHED (no such payment)."""
    body = encode(sample_body("payment_received", reference=f"BLNQUEUE{n}"))
    return WebhookEvent.objects.create(
        endpoint=WebhookEvent.Endpoint.PAYMENTS,
        body=body.decode(),
        dedupe_key=f"queue-order-{n}",
        event_name="PAYMENT RECEIVED",
        order_reference=f"BLNQUEUE{n}",
        status=WebhookEvent.Status.FAILED,
        attempts=1,
        next_attempt_at=timezone.now() - timedelta(seconds=1),
    )


def _pending_email(n: int) -> Notification:
    return Notification.objects.create(
        kind=Notification.Kind.PAYOUT_SENT,
        email=f"creator{n}@example.com",
        subject="Your payout is on its way",
        body="TZS 46,000.00 to M-Pesa",
        dedupe_key=f"queue-order-{n}",
    )
