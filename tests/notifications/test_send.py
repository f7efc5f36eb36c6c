"""Sending one notification: SENT on success; on failure the error is kept and the row retried, then FAILED."""

import smtplib
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from notifications.delivery import NotificationRetry, notification_claim, notification_send
from notifications.models import Notification
from notifications.services import notification_resend
from notifications.tasks import notification_deliver, notification_deliver_many

from .factories import NotificationFactory

pytestmark = pytest.mark.django_db


def test_it_sends_the_email_and_marks_the_row_sent():
    notification = NotificationFactory()

    assert notification_send(notification.pk) is True

    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT
    assert notification.sent_at is not None
    assert notification.attempts == 1
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [notification.email]
    assert mail.outbox[0].subject == notification.subject
    assert mail.outbox[0].body == notification.body


def test_a_row_another_worker_holds_is_not_sent():
    notification = NotificationFactory()
    notification_claim(notification.pk)

    assert notification_send(notification.pk) is False

    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENDING
    assert mail.outbox == []


def test_a_failed_send_keeps_the_error_on_the_row_and_retries_after_a_backoff(smtp_down):
    notification = NotificationFactory()

    with pytest.raises(NotificationRetry) as raised:
        notification_send(notification.pk)

    notification.refresh_from_db()
    assert raised.value.retry_in == 30
    assert notification.status == Notification.Status.PENDING
    assert notification.attempts == 1
    assert "ConnectionRefusedError" in notification.last_error
    assert timedelta(seconds=25) < notification.next_attempt_at - timezone.now() <= timedelta(seconds=30)


def test_the_backoff_doubles_with_each_attempt(smtp_down):
    notification = NotificationFactory(attempts=3)

    with pytest.raises(NotificationRetry) as raised:
        notification_send(notification.pk)

    assert raised.value.retry_in == 240


def test_the_last_failed_attempt_leaves_the_row_failed(settings, smtp_down):
    notification = NotificationFactory(attempts=settings.NOTIFICATION_MAX_ATTEMPTS - 1)

    assert notification_send(notification.pk) is False

    notification.refresh_from_db()
    assert notification.status == Notification.Status.FAILED
    assert notification.attempts == settings.NOTIFICATION_MAX_ATTEMPTS
    assert "ConnectionRefusedError" in notification.last_error


def test_a_success_clears_the_previous_error():
    notification = NotificationFactory(attempts=1, last_error="ConnectionRefusedError: [Errno 111]")

    notification_send(notification.pk)

    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT
    assert notification.last_error == ""


def test_resend_puts_a_failed_row_back_and_sends_it(settings, django_capture_on_commit_callbacks):
    notification = NotificationFactory(
        status=Notification.Status.FAILED, attempts=settings.NOTIFICATION_MAX_ATTEMPTS, last_error="SMTP down"
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert notification_resend(notification) is True

    notification.refresh_from_db()
    assert notification.status == Notification.Status.SENT
    assert notification.attempts == 1
    assert len(mail.outbox) == 1


def test_resend_keeps_the_last_error_until_a_send_succeeds(smtp_down, django_capture_on_commit_callbacks):
    notification = NotificationFactory(status=Notification.Status.FAILED, attempts=8, last_error="SMTP down")

    notification_resend(notification)

    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING
    assert notification.attempts == 0
    assert notification.last_error == "SMTP down"


@pytest.mark.parametrize("status", [Notification.Status.PENDING, Notification.Status.SENDING])
def test_resend_refuses_a_row_still_on_its_way(status):
    notification = NotificationFactory(status=status, attempts=1)

    assert notification_resend(notification) is False

    notification.refresh_from_db()
    assert notification.status == status
    assert notification.attempts == 1


def test_resend_sends_a_sent_email_again(django_capture_on_commit_callbacks):
    """A receipt the buyer says never came is sent again."""
    notification = NotificationFactory(status=Notification.Status.SENT, attempts=1)
    with django_capture_on_commit_callbacks():
        assert notification_resend(notification) is True
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (Notification.Status.PENDING, 0)


def test_an_in_app_message_is_not_resent():
    notification = NotificationFactory(status=Notification.Status.SENT, channel=Notification.Channel.IN_APP)
    assert notification_resend(notification) is False


def test_the_task_run_in_process_leaves_a_failed_row_to_the_sweeper(smtp_down):
    notification = NotificationFactory()

    notification_deliver.delay(notification.pk)

    notification.refresh_from_db()
    assert notification.status == Notification.Status.PENDING
    assert notification.attempts == 1
    assert notification.next_attempt_at > timezone.now()


def test_one_task_sends_every_row_of_a_batch_and_skips_those_already_sent():
    first, second, done = NotificationFactory(), NotificationFactory(), NotificationFactory()
    notification_send(done.pk)
    mail.outbox.clear()

    assert notification_deliver_many.delay([first.pk, second.pk, done.pk]).get() == 2

    assert sorted(m.to[0] for m in mail.outbox) == sorted([first.email, second.email])
    assert set(Notification.objects.values_list("status", flat=True)) == {Notification.Status.SENT}


def test_a_batch_whose_sends_fail_goes_on_and_leaves_each_row_to_its_backoff(smtp_down):
    rows = [NotificationFactory(), NotificationFactory()]

    assert notification_deliver_many.delay([r.pk for r in rows]).get() == 0

    for row in rows:
        row.refresh_from_db()
        assert (row.status, row.attempts) == (Notification.Status.PENDING, 1)
        assert row.next_attempt_at > timezone.now()


class BouncingMailServer(locmem.EmailBackend):
    """Django's in-memory mail backend that counts its connections and refuses addresses with "bounce"."""

    connections = 0

    def open(self) -> bool:
        type(self).connections += 1
        return super().open()

    def send_messages(self, messages):
        if any("bounce" in address for message in messages for address in message.to):
            raise smtplib.SMTPRecipientsRefused({message.to[0]: (550, b"no such mailbox") for message in messages})
        return super().send_messages(messages)


def test_a_batch_is_one_claim_and_one_mail_connection_and_a_refused_address_holds_back_only_its_row(settings):
    settings.EMAIL_BACKEND = f"{__name__}.BouncingMailServer"
    BouncingMailServer.connections = 0
    first, bounced, last = (
        NotificationFactory(email="first@example.com"),
        NotificationFactory(email="bounce@example.com"),
        NotificationFactory(email="last@example.com"),
    )

    with CaptureQueriesContext(connection) as queries:
        assert notification_deliver_many.delay([first.pk, bounced.pk, last.pk]).get() == 2

    # One UPDATE ... RETURNING claims the three; then one UPDATE per outcome (three before: claim, read, record).
    assert len(queries) == 4
    assert BouncingMailServer.connections == 1
    assert [m.to for m in mail.outbox] == [["first@example.com"], ["last@example.com"]]
    statuses = dict(Notification.objects.values_list("email", "status"))
    assert statuses == {"first@example.com": "SENT", "bounce@example.com": "PENDING", "last@example.com": "SENT"}
    bounced.refresh_from_db()
    assert "no such mailbox" in bounced.last_error and bounced.next_attempt_at > timezone.now()
