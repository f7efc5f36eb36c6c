"""The outbox: rows written with the money change, once per dedupe_key, sent after commit."""

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import transaction

from notifications.models import Notification
from notifications.services import Message, notify, notify_many, notify_staff
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _receipt(user, key="payment:1:receipt"):
    context = {
        "name": "Asha",
        "order": 7,
        "total": "TZS 10,750.00",
        "subtotal": "TZS 10,000.00",
        "processing_fee": "TZS 750.00",
        "reference": "BLN1",
    }
    return Message(Notification.Kind.RECEIPT, key, context, recipient=user)


def test_it_writes_one_row_per_dedupe_key_when_an_event_is_replayed(django_capture_on_commit_callbacks):
    buyer, other = UserFactory(), UserFactory()
    messages = [_receipt(buyer, "payment:1:receipt"), _receipt(other, "payment:2:receipt")]

    with django_capture_on_commit_callbacks(execute=True):
        notify_many(messages)
    with django_capture_on_commit_callbacks(execute=True):
        notify_many(messages)

    assert sorted(Notification.objects.values_list("dedupe_key", flat=True)) == [
        "payment:1:receipt",
        "payment:2:receipt",
    ]
    assert sorted(m.to[0] for m in mail.outbox) == sorted([buyer.email, other.email])


def test_a_replay_of_one_message_in_one_batch_writes_one_row(django_capture_on_commit_callbacks):
    buyer = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        notify_many([_receipt(buyer), _receipt(buyer)])

    assert Notification.objects.count() == 1
    assert len(mail.outbox) == 1


def test_it_sends_only_after_the_transaction_commits(django_capture_on_commit_callbacks):
    buyer = UserFactory()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        notify_many([_receipt(buyer)])
        assert mail.outbox == []

    assert len(callbacks) == 1
    notification = Notification.objects.get()
    assert notification.status == Notification.Status.SENT
    assert mail.outbox[0].subject == notification.subject


def test_a_rolled_back_transaction_leaves_no_notification(django_capture_on_commit_callbacks):
    buyer = UserFactory()

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        notify_many([_receipt(buyer)])
        raise RuntimeError("the money change failed")

    assert not Notification.objects.exists()
    assert mail.outbox == []


def test_a_recipient_without_an_email_gets_an_in_app_notification(django_capture_on_commit_callbacks):
    buyer = UserFactory(email="")

    with django_capture_on_commit_callbacks(execute=True):
        notify_many([_receipt(buyer)])

    notification = Notification.objects.get()
    assert notification.channel == Notification.Channel.IN_APP
    assert notification.status == Notification.Status.SENT
    assert notification.email == ""
    assert mail.outbox == []


def test_an_explicit_address_wins_over_the_recipients_email(django_capture_on_commit_callbacks):
    buyer = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        notify(
            kind=Notification.Kind.STAFF_ALERT,
            dedupe_key="alert:1",
            context={"title": "Check", "detail": "Details"},
            recipient=buyer,
            email="ops@example.com",
        )

    assert Notification.objects.get().email == "ops@example.com"
    assert mail.outbox[0].to == ["ops@example.com"]


def test_an_unsupported_language_falls_back_to_english(django_capture_on_commit_callbacks):
    buyer = UserFactory(language="fr")

    notify_many([_receipt(buyer)])

    notification = Notification.objects.get()
    assert notification.language == "en"
    assert notification.subject == "Your receipt for order #7"


def test_staff_alerts_go_to_the_group_and_to_finance_addresses(settings, django_capture_on_commit_callbacks):
    settings.FINANCE_EMAILS = ["finance@example.com"]
    finance = Group.objects.get_or_create(name="Finance")[0]
    member, outsider = UserFactory(), UserFactory()
    member.groups.add(finance)

    with django_capture_on_commit_callbacks(execute=True):
        notify_staff(
            kind=Notification.Kind.FINANCE_ALERT, dedupe_key="payment:9:review", context={"title": "T", "detail": "D"}
        )

    assert sorted(Notification.objects.values_list("email", flat=True)) == sorted(["finance@example.com", member.email])
    assert outsider.email not in {m.to[0] for m in mail.outbox}


def test_a_dedupe_key_longer_than_the_column_is_kept_unique():
    buyer = UserFactory()
    head = "payment:1:review:" + "x" * 250

    notify_many([_receipt(buyer, head + ":a"), _receipt(buyer, head + ":b")])

    keys = list(Notification.objects.values_list("dedupe_key", flat=True))
    assert len(set(keys)) == 2
    assert all(len(key) <= 200 and key.startswith("payment:1:review:") for key in keys)
