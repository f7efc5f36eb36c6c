"""The same delivery, however often and however concurrently it arrives, has one effect."""

import json
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client

from clickpesa.models import WebhookEvent
from notifications.models import Notification
from payments.models import Payment
from revenue.models import LedgerTransaction
from revenue.services import creator_balance
from tests.conftest import WEBHOOK_SETTLE, run_concurrently
from tests.factories import PaymentFactory
from tests.webhooks import payment_body, post_webhook, use_checksum_key

CREATOR_AMOUNT = Decimal("9200.00")  # 10,000 less the 8 % marketplace fee


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


def _assert_one_effect(payment: Payment, deliveries: int) -> None:
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    captures = LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_CAPTURE)
    assert captures.count() == 1
    assert creator_balance(payment.order.lines.get().creator).available == CREATOR_AMOUNT
    assert sorted(Notification.objects.values_list("kind", flat=True)) == [
        Notification.Kind.RECEIPT,
        Notification.Kind.SALE,
    ]
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.attempts == 1
    assert event.duplicate_count == deliveries - 1
    assert (event.last_duplicate_at is not None) is (deliveries > 1)


@pytest.mark.django_db
@pytest.mark.parametrize("deliveries", [2, 5, 50])
def test_the_same_delivery_in_sequence_has_one_effect(client, deliveries):
    payment = PaymentFactory()
    body = payment_body(payment)

    answers = [post_webhook(client, body) for _ in range(deliveries)]

    event_id = WebhookEvent.objects.get().pk
    assert [a.status_code for a in answers] == [200] * deliveries
    assert [a.json() for a in answers] == [{"status": "processed", "event": event_id}] + [
        {"status": "duplicate", "event": event_id}
    ] * (deliveries - 1)
    _assert_one_effect(payment, deliveries)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("deliveries", [2, 5, 50])
def test_the_same_delivery_from_concurrent_requests_has_one_effect(deliveries):
    payment = PaymentFactory()
    body = payment_body(payment)

    answers = run_concurrently(lambda i: post_webhook(Client(), body), deliveries)

    assert [a.status_code for a in answers] == [200] * deliveries, answers
    statuses = sorted(a.json()["status"] for a in answers)
    if WEBHOOK_SETTLE == "queued":
        # Answered before settling: a repeat that came before the settler is `accepted` as well (shown
        # by post_webhook as the settled answer), one after it `duplicate`. Still one effect.
        assert statuses.count("processed") >= 1 and set(statuses) <= {"duplicate", "processed"}
    else:
        assert statuses == ["duplicate"] * (deliveries - 1) + ["processed"]
    _assert_one_effect(payment, deliveries)
    assert len(mail.outbox) == 2  # the sale notice and the receipt, sent once each


@pytest.mark.django_db
def test_a_reformatted_copy_of_a_delivery_is_the_same_delivery(client):
    """Key order, whitespace and the checksum do not make a new delivery; content does."""
    payment = PaymentFactory()
    body = payment_body(payment)
    post_webhook(client, body)
    reordered = {"data": dict(reversed(list(body["data"].items()))), "event": body["event"]}
    from clickpesa.checksum import sign

    response = post_webhook(client, raw=json.dumps(sign(reordered, "test-checksum-key"), indent=4).encode())

    assert response.json()["status"] == "duplicate"
    assert WebhookEvent.objects.get().duplicate_count == 1


@pytest.mark.django_db
def test_a_different_delivery_for_the_same_payment_is_a_new_event(client):
    payment = PaymentFactory()
    post_webhook(client, payment_body(payment))

    response = post_webhook(client, payment_body(payment, updatedAt="2025-09-15T08:02:00.000Z"))

    assert response.json()["status"] == "ignored"
    assert WebhookEvent.objects.count() == 2
    assert LedgerTransaction.objects.count() == 1


@pytest.mark.django_db
def test_an_unmatched_event_is_processed_again_when_it_arrives_again(client):
    """The payment may be stored after ClickPesa first told us about it."""
    payment = PaymentFactory()
    body = payment_body(payment, reference="BLNLATEARRIVAL1")
    first = post_webhook(client, body)
    # The payment row now carries the reference the first delivery did not find.
    Payment.objects.filter(pk=payment.pk).update(reference="BLNLATEARRIVAL1")

    second = post_webhook(client, body)

    assert first.json()["status"] == "unmatched"
    assert second.json() == {"status": "processed", "event": first.json()["event"]}
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert (event.attempts, event.duplicate_count) == (2, 1)
    assert LedgerTransaction.objects.count() == 1
