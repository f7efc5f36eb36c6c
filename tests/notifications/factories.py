"""Outbox rows for tests that start from a notification rather than from a money event."""

from datetime import timedelta

import factory
from django.utils import timezone

from notifications.models import Notification
from tests.factories import UserFactory


class NotificationFactory(factory.django.DjangoModelFactory):
    """An email notification waiting in the outbox, due now."""

    class Meta:
        model = Notification

    recipient = factory.SubFactory(UserFactory)
    email = factory.LazyAttribute(lambda n: n.recipient.email if n.recipient else "finance@example.com")
    channel = Notification.Channel.EMAIL
    kind = Notification.Kind.RECEIPT
    subject = "Your receipt for order #1"
    body = "Hello,\n\nWe received your payment.\n\nBlinno"
    dedupe_key = factory.Sequence(lambda n: f"test:notification:{n}")
    next_attempt_at = factory.LazyFunction(lambda: timezone.now() - timedelta(seconds=1))
