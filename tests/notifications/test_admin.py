"""Support resends a notification whose deliveries all failed."""

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.urls import reverse

from notifications.delivery import notification_send
from notifications.models import Notification
from notifications.services import notify
from tests.factories import UserFactory
from tests.staff import messages_of

NOTIFICATIONS = reverse("admin:notifications_notification_changelist")


@pytest.fixture
def failed(settings) -> Notification:
    """A receipt whose only allowed delivery attempt hit a mail server that refused the connection."""
    settings.NOTIFICATION_MAX_ATTEMPTS = 1
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", 9, 2
    notify(
        kind=Notification.Kind.STAFF_ALERT,
        dedupe_key="test:failed",
        context={"title": "Test", "detail": "delivery fails"},
        recipient=UserFactory(),
    )
    notification = Notification.objects.get(dedupe_key__endswith="test:failed")
    notification_send(notification.pk)
    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    return notification


@pytest.mark.django_db
def test_support_resends_a_failed_notification_and_it_is_delivered(
    support, support_user, failed, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = support.action(NOTIFICATIONS, "resend", [failed])
    assert messages_of(response) == ["1 notification queued for resending"]
    failed.refresh_from_db()
    assert failed.status == Notification.Status.SENT
    assert len(mail.outbox) == 1
    log = LogEntry.objects.get(object_id=str(failed.pk), content_type__model="notification")
    assert (log.user, log.change_message) == (support_user, "Queued for resending")


@pytest.mark.django_db
def test_a_notification_that_did_not_fail_is_not_resent(support):
    notify(
        kind=Notification.Kind.STAFF_ALERT,
        dedupe_key="test:pending",
        context={"title": "Test", "detail": "waiting"},
        recipient=UserFactory(),
    )
    pending = Notification.objects.get(dedupe_key__endswith="test:pending")
    response = support.action(NOTIFICATIONS, "resend", [pending])
    assert messages_of(response) == ["0 notifications queued for resending, 1 skipped: still on its way, or in-app"]
    pending.refresh_from_db()
    assert pending.status == Notification.Status.PENDING


@pytest.mark.django_db
def test_support_filters_notifications_by_status(support, failed):
    response = support.get(NOTIFICATIONS, {"status__exact": "FAILED"})
    assert [n.pk for n in response.context["cl"].result_list] == [failed.pk]
