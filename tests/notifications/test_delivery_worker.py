"""Delivery by a real Celery worker on Redis, and what a broker outage does (and does not) do."""

import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from notifications import delivery
from notifications.models import Notification
from notifications.services import Message, notify, notify_many
from notifications.tasks import notifications_enqueue, notifications_sweep
from tests.celery_worker import silent_server, wait_for
from tests.factories import UserFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _write_receipt(key: str = "payment:1:receipt") -> Notification:
    """Write a receipt the way a payment handler does: in a transaction that commits."""
    with transaction.atomic():
        notify(
            kind=Notification.Kind.RECEIPT,
            dedupe_key=key,
            context={
                "name": "Juma",
                "order": 7,
                "total": "TZS 10,750.00",
                "subtotal": "TZS 10,000.00",
                "processing_fee": "TZS 750.00",
                "reference": "BLN1",
            },
            recipient=UserFactory(email="juma@example.com"),
        )
    return Notification.objects.get(dedupe_key=key)


def _status(notification: Notification) -> str:
    notification.refresh_from_db()
    return notification.status


def test_a_real_worker_sends_a_committed_notification_once(celery_worker, celery_publisher):
    notification = _write_receipt()

    wait_for(lambda: _status(notification) == Notification.Status.SENT, what="the worker to send it")

    assert notification.attempts == 1
    [email] = celery_worker.emails()
    message = email.read_text()
    assert "To: juma@example.com" in message
    assert "Subject: Your receipt for order #7" in message


def test_with_the_broker_down_the_writer_succeeds_and_the_sweeper_delivers_later(celery_worker, celery_publisher):
    celery_publisher.use_unreachable_broker()

    started = time.monotonic()
    notification = _write_receipt()
    elapsed = time.monotonic() - started

    assert elapsed < 10, f"writing took {elapsed:.1f} s with the broker down"
    assert _status(notification) == Notification.Status.PENDING

    # The broker is back; three minutes later beat runs the sweep on the worker.
    celery_publisher.use_worker_broker()
    Notification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now() - timedelta(minutes=3))
    notifications_sweep.delay()

    wait_for(lambda: _status(notification) == Notification.Status.SENT, what="the sweeper to deliver it")
    assert notification.attempts == 1
    assert len(celery_worker.emails()) == 1


def test_a_broker_that_accepts_but_never_answers_does_not_hang_the_writer(celery_worker, celery_publisher):
    messages = [
        Message(Notification.Kind.STAFF_ALERT, f"alert:{n}", {"title": "T", "detail": "D"}, email=f"ops{n}@example.com")
        for n in range(3)
    ]
    with silent_server() as port:
        celery_publisher.use(f"redis://127.0.0.1:{port}/0")

        started = time.monotonic()
        with transaction.atomic():
            notify_many(messages)
        elapsed = time.monotonic() - started

    # One publish waits out the socket timeout (5 s); the rows after it are not tried.
    assert elapsed < 10, f"writing took {elapsed:.1f} s with a hung broker"
    assert Notification.objects.filter(status=Notification.Status.PENDING).count() == 3
    assert celery_worker.emails() == []


def test_a_worker_killed_mid_send_leaves_no_row_stuck_and_sends_once(celery_worker, celery_publisher):
    with silent_server() as smtp_port:
        # A mail server that never answers holds the worker inside the send.
        celery_worker.env.update(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(smtp_port),
        )
        try:
            celery_worker.restart()
            notification = _write_receipt()
            wait_for(lambda: _status(notification) == Notification.Status.SENDING, what="the worker to claim it")
        finally:
            celery_worker.kill()
            celery_worker.env.clear()
    celery_worker.start()
    assert _status(notification) == Notification.Status.SENDING

    # Once the claim is older than the grace period (here: at once) the sweeper takes it back.
    due = delivery.notifications_sweep(pending_after=timedelta(0), sending_grace=timedelta(0))
    assert len(due) == 1
    notifications_enqueue(due)

    wait_for(lambda: _status(notification) == Notification.Status.SENT, what="the restarted worker to send it")
    assert notification.attempts == 2
    assert len(celery_worker.emails()) == 1
