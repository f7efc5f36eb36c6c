"""The sweeper: rows nobody delivered are enqueued again; rows of dead workers are taken back."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from notifications.delivery import notification_claim
from notifications.models import Notification
from notifications.tasks import notifications_sweep

from .factories import NotificationFactory

pytestmark = pytest.mark.django_db


def test_it_sends_a_row_left_pending_for_more_than_two_minutes(django_capture_on_commit_callbacks):
    notification = NotificationFactory(next_attempt_at=timezone.now())

    with (
        time_machine.travel(timezone.now() + timedelta(minutes=3)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert notifications_sweep() == 1

    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT
    assert len(mail.outbox) == 1


def test_the_beat_task_runs_the_sweep(django_capture_on_commit_callbacks):
    notification = NotificationFactory(next_attempt_at=timezone.now() - timedelta(minutes=3))

    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_sweep.delay().get() == 1

    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT


def test_it_leaves_a_fresh_row_to_its_own_task():
    notification = NotificationFactory(next_attempt_at=timezone.now())

    assert notifications_sweep() == 0

    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING
    assert mail.outbox == []


def test_it_leaves_a_row_waiting_out_its_backoff():
    notification = NotificationFactory(attempts=3, next_attempt_at=timezone.now() + timedelta(minutes=4))

    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert notifications_sweep() == 0

    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING


def test_a_swept_row_that_fails_again_is_not_swept_again_until_its_backoff_ends(
    smtp_down, django_capture_on_commit_callbacks
):
    notification = NotificationFactory(next_attempt_at=timezone.now() - timedelta(minutes=3))

    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_sweep() == 1
    assert notifications_sweep() == 0

    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING
    assert notification.attempts == 1


def test_it_takes_back_and_sends_a_row_whose_worker_died_mid_send(django_capture_on_commit_callbacks):
    notification = NotificationFactory()
    notification_claim(notification.pk)  # the worker that claimed it is gone

    with (
        time_machine.travel(timezone.now() + timedelta(minutes=6)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert notifications_sweep() == 1

    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT
    assert notification.attempts == 2
    assert len(mail.outbox) == 1


def test_it_leaves_a_row_that_is_being_sent_within_the_grace_period():
    notification = NotificationFactory()
    notification_claim(notification.pk)

    with time_machine.travel(timezone.now() + timedelta(minutes=4)):
        assert notifications_sweep() == 0

    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENDING
    assert mail.outbox == []


def test_a_dead_workers_row_with_no_attempts_left_is_failed(settings):
    notification = NotificationFactory(attempts=settings.NOTIFICATION_MAX_ATTEMPTS - 1)
    notification_claim(notification.pk)

    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert notifications_sweep() == 0

    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
    assert "worker sending this was lost" in notification.last_error
    assert mail.outbox == []
