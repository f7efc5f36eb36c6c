"""Claiming a notification for sending: one compare-and-set, one winner."""

from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.delivery import notification_claim
from notifications.models import Notification
from tests.conftest import run_concurrently

from .factories import NotificationFactory


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_one_row_exactly_one_wins():
    for _ in range(10):
        notification = NotificationFactory()

        results = run_concurrently(lambda i, pk=notification.pk: notification_claim(pk), 2)

        winners = [r for r in results if isinstance(r, Notification)]
        assert len(winners) == 1, results
        assert results.count(None) == 1, results
        notification.refresh_from_db()
        assert notification.status == Notification.Status.SENDING
        assert notification.attempts == 1
        assert notification.claimed_at == winners[0].claimed_at


@pytest.mark.django_db
def test_a_claim_marks_the_row_sending_and_counts_an_attempt():
    notification = NotificationFactory(attempts=2)

    claimed = notification_claim(notification.pk)

    notification.refresh_from_db()
    assert claimed == notification
    assert notification.status == Notification.Status.SENDING
    assert notification.attempts == 3
    assert notification.claimed_at is not None


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Notification.Status.SENDING, Notification.Status.SENT, Notification.Status.FAILED])
def test_only_a_pending_row_can_be_claimed(status):
    notification = NotificationFactory(status=status)

    assert notification_claim(notification.pk) is None

    notification.refresh_from_db()
    assert notification.status == status
    assert notification.attempts == 0


@pytest.mark.django_db
def test_a_row_waiting_out_its_backoff_is_not_claimed():
    notification = NotificationFactory(next_attempt_at=timezone.now() + timedelta(minutes=1))

    assert notification_claim(notification.pk) is None

    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING
