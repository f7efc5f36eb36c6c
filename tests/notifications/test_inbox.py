"""The in-app inbox: a person's notifications, unread ones, and marking them read."""

import pytest

from core.errors import BlinnoError
from notifications.models import Notification
from notifications.selectors import notifications_for
from notifications.services import notification_mark_read
from tests.factories import UserFactory

from .factories import NotificationFactory

pytestmark = pytest.mark.django_db


def in_app(user, **fields):
    return NotificationFactory(
        recipient=user, email="", channel=Notification.Channel.IN_APP, status=Notification.Status.SENT, **fields
    )


def test_it_lists_a_persons_notifications_newest_first():
    user = UserFactory()
    older, newer = in_app(user), NotificationFactory(recipient=user)
    in_app(UserFactory())

    assert list(notifications_for(user)) == [newer, older]


def test_it_lists_only_unread_notifications_when_asked():
    user = UserFactory()
    unread = in_app(user)
    read = in_app(user)
    notification_mark_read(read, user=user)

    assert list(notifications_for(user, unread_only=True)) == [unread]


def test_marking_read_records_when():
    user = UserFactory()
    notification = in_app(user)

    assert notification_mark_read(notification, user=user) is True

    notification.refresh_from_db()
    assert notification.read_at is not None


def test_marking_read_twice_keeps_the_first_time():
    user = UserFactory()
    notification = in_app(user)
    notification_mark_read(notification, user=user)
    first = Notification.objects.get(pk=notification.pk).read_at

    assert notification_mark_read(notification, user=user) is False

    notification.refresh_from_db()
    assert notification.read_at == first


def test_nobody_marks_another_persons_notification_read():
    notification = in_app(UserFactory())

    with pytest.raises(BlinnoError) as raised:
        notification_mark_read(notification, user=UserFactory())

    assert raised.value.code == "not_recipient"
    notification.refresh_from_db()
    assert notification.read_at is None
