"""Late and conflicting payment events never move money silently (docs/architecture.md, "States")."""

import pytest
from django.contrib.auth.models import Group

from clickpesa.models import WebhookEvent
from notifications.models import Notification
from payments.models import Order, Payment
from revenue.models import LedgerTransaction
from revenue.services import creator_balance
from tests.factories import PaymentFactory, UserFactory
from tests.webhooks import payment_body, post_webhook, use_checksum_key


@pytest.fixture(autouse=True)
def _finance(settings):
    use_checksum_key(settings)
    UserFactory(is_staff=True).groups.add(Group.objects.get_or_create(name="Finance")[0])


@pytest.mark.django_db
def test_a_failure_after_completion_keeps_the_money_and_asks_for_review(client):
    payment = PaymentFactory()
    creator = payment.order.lines.get().creator
    post_webhook(client, payment_body(payment))

    response = post_webhook(client, payment_body(payment, "payment_failed"))

    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW
    assert "Failure reported after completion (Insufficient balance)" in payment.notes
    assert payment.order.status == Order.Status.PAID
    assert LedgerTransaction.objects.count() == 1
    assert creator_balance(creator).available == payment.order.fees.get().creator_amount
    assert Notification.objects.filter(kind=Notification.Kind.FINANCE_ALERT).count() == 1
    event = WebhookEvent.objects.get(pk=response.json()["event"])
    assert event.detail.startswith("needs review: Failure reported after completion")


@pytest.mark.django_db
def test_a_success_after_failure_credits_nothing_and_asks_for_review(client):
    payment = PaymentFactory()
    post_webhook(client, payment_body(payment, "payment_failed"))

    response = post_webhook(client, payment_body(payment))

    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW
    assert "Success reported after failure (Insufficient balance)" in payment.notes
    assert payment.order.status == Order.Status.PAYMENT_FAILED
    assert not LedgerTransaction.objects.exists()
    assert Notification.objects.filter(kind=Notification.Kind.FINANCE_ALERT).count() == 1
    event = WebhookEvent.objects.get(pk=response.json()["event"])
    assert event.detail.startswith("needs review: Success reported after failure")
