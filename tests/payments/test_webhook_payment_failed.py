"""PAYMENT FAILED (and a failed status) through the real endpoint: handler 2 (docs/architecture.md)."""

from decimal import Decimal

import pytest

from clickpesa.models import WebhookEvent
from notifications.models import Notification
from payments.models import Booking, Order, Payment, Subscription
from payments.services import LineSpec, order_create, payment_start
from revenue.models import LedgerTransaction, PlatformFee, TransactionType
from tests.factories import BuyerFactory, CreatorFactory, PaymentFactory
from tests.webhooks import payment_body, post_webhook, use_checksum_key


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


def _order_with_booking_and_subscription() -> Order:
    buyer, creator = BuyerFactory(), CreatorFactory()
    booking = Booking.objects.create(buyer=buyer, creator=creator, description="Portrait session")
    subscription = Subscription.objects.create(buyer=buyer, creator=creator, plan="Monthly")
    return order_create(
        buyer,
        lines=[
            LineSpec(creator, TransactionType.SERVICE_BOOKING, Decimal("20000.00"), booking=booking),
            LineSpec(creator, TransactionType.SUBSCRIPTION, Decimal("5000.00"), subscription=subscription),
        ],
    )


@pytest.mark.django_db
def test_it_fails_the_payment_with_the_gateway_message(client):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment, "payment_failed"))

    assert response.status_code == 200
    assert response.json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payment.failure_reason == "Insufficient balance"
    assert payment.gateway_id == "BLN24B8G4L0LCP9Z8Y"
    assert payment.channel == "AIRTEL-MONEY"
    assert payment.order.status == Order.Status.PAYMENT_FAILED
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db
def test_it_refunds_fees_and_cancels_what_the_order_bought(client):
    order = _order_with_booking_and_subscription()
    payment = payment_start(order)

    post_webhook(client, payment_body(payment, "payment_failed"))

    assert set(PlatformFee.objects.filter(order=order).values_list("status", flat=True)) == {
        PlatformFee.Status.REFUNDED
    }
    assert Booking.objects.get().status == Booking.Status.CANCELLED
    assert Subscription.objects.get().status == Subscription.Status.CANCELLED


@pytest.mark.django_db
def test_it_tells_the_buyer_why_in_their_words(client):
    payment = PaymentFactory()

    post_webhook(client, payment_body(payment, "payment_failed"))

    notification = Notification.objects.get()
    assert notification.kind == Notification.Kind.PAYMENT_FAILED
    assert notification.recipient == payment.order.buyer
    assert "your mobile money balance was not enough" in notification.body
    assert "TZS 11,000.00" in notification.body


@pytest.mark.django_db
def test_a_payment_received_event_with_a_failed_status_fails_the_payment(client):
    payment = PaymentFactory()
    body = payment_body(payment, status="FAILED", message="Transaction cancelled by user")

    response = post_webhook(client, body)

    assert response.json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payment.failure_reason == "Transaction cancelled by user"
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db
def test_a_failed_attempt_leaves_the_order_open_while_another_attempt_is_pending(client):
    """Two attempts of one order: the first failing must not cancel what the second may still pay for."""
    order = _order_with_booking_and_subscription()
    first, second = payment_start(order), payment_start(order)

    post_webhook(client, payment_body(first, "payment_failed"))
    post_webhook(client, payment_body(second))

    order.refresh_from_db()
    second.refresh_from_db()
    assert second.status == Payment.Status.COMPLETED
    assert order.status == Order.Status.PAID
    assert Booking.objects.get().status == Booking.Status.CONFIRMED
    assert Subscription.objects.get().status == Subscription.Status.ACTIVE
    assert set(PlatformFee.objects.filter(order=order).values_list("status", flat=True)) == {
        PlatformFee.Status.COLLECTED
    }


@pytest.mark.django_db
def test_a_failed_attempt_of_an_order_already_paid_does_not_ask_the_buyer_to_try_again(client):
    order = _order_with_booking_and_subscription()
    first, second = payment_start(order), payment_start(order)
    post_webhook(client, payment_body(second))

    response = post_webhook(client, payment_body(first, "payment_failed"))

    assert response.status_code == 200
    first.refresh_from_db()
    order.refresh_from_db()
    assert first.status == Payment.Status.FAILED
    assert order.status == Order.Status.PAID
    assert not Notification.objects.filter(kind=Notification.Kind.PAYMENT_FAILED).exists()
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.PROCESSED).count() == 2
