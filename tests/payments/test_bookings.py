"""What an order buys: bookings confirmed and subscriptions started when it is paid, cancelled when it fails."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from payments.models import Booking, Order, Payment, Subscription
from payments.services import LineSpec, order_create, payment_start
from revenue.models import TransactionType
from tests.factories import BuyerFactory, CreatorFactory
from tests.webhooks import payment_body, post_webhook, use_checksum_key


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


@pytest.fixture
def buyer(db):
    return BuyerFactory()


@pytest.fixture
def creator(db):
    return CreatorFactory()


def _booking(buyer, creator, **fields) -> Booking:
    return Booking.objects.create(buyer=buyer, creator=creator, description="Portrait session", **fields)


def _subscription(buyer, creator, **fields) -> Subscription:
    return Subscription.objects.create(buyer=buyer, creator=creator, plan="Monthly", **fields)


def _order(buyer, creator, *, booking=None, subscription=None) -> Order:
    lines = []
    if booking:
        lines.append(LineSpec(creator, TransactionType.SERVICE_BOOKING, Decimal("20000.00"), booking=booking))
    if subscription:
        lines.append(LineSpec(creator, TransactionType.SUBSCRIPTION, Decimal("5000.00"), subscription=subscription))
    return order_create(buyer, lines=lines)


@pytest.mark.django_db
def test_a_subscription_starts_when_its_payment_is_captured(client, buyer, creator):
    subscription = _subscription(buyer, creator)
    payment = payment_start(_order(buyer, creator, subscription=subscription))
    captured_at = timezone.now() + timedelta(hours=2)

    with time_machine.travel(captured_at, tick=False):
        post_webhook(client, payment_body(payment))

    subscription.refresh_from_db()
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.started_at == captured_at
    assert subscription.expires_at is None  # the plan's length is not the payment's to decide


@pytest.mark.django_db
def test_a_capture_touches_only_what_its_order_bought(client, buyer, creator):
    bought = _booking(buyer, creator)
    other_booking = _booking(buyer, creator)
    other_subscription = _subscription(buyer, creator)
    payment = payment_start(_order(buyer, creator, booking=bought))

    post_webhook(client, payment_body(payment))

    bought.refresh_from_db()
    other_booking.refresh_from_db()
    other_subscription.refresh_from_db()
    assert bought.status == Booking.Status.CONFIRMED
    assert other_booking.status == Booking.Status.PENDING
    assert (other_subscription.status, other_subscription.started_at) == (Subscription.Status.PENDING, None)


@pytest.mark.django_db
def test_a_booking_cancelled_before_the_capture_stays_cancelled(client, buyer, creator):
    booking = _booking(buyer, creator)
    payment = payment_start(_order(buyer, creator, booking=booking))
    Booking.objects.filter(pk=booking.pk).update(status=Booking.Status.CANCELLED)  # the creator called it off

    post_webhook(client, payment_body(payment))

    booking.refresh_from_db()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert booking.status == Booking.Status.CANCELLED


@pytest.mark.django_db
def test_a_subscription_already_active_keeps_its_start(client, buyer, creator):
    started = timezone.now() - timedelta(days=30)
    subscription = _subscription(buyer, creator, status=Subscription.Status.ACTIVE, started_at=started)
    payment = payment_start(_order(buyer, creator, subscription=subscription))

    post_webhook(client, payment_body(payment))

    subscription.refresh_from_db()
    assert (subscription.status, subscription.started_at) == (Subscription.Status.ACTIVE, started)


@pytest.mark.django_db
def test_a_failed_payment_cancels_the_subscription_without_starting_it(client, buyer, creator):
    booking, subscription = _booking(buyer, creator), _subscription(buyer, creator)
    payment = payment_start(_order(buyer, creator, booking=booking, subscription=subscription))

    post_webhook(client, payment_body(payment, "payment_failed"))

    booking.refresh_from_db()
    subscription.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert (subscription.status, subscription.started_at) == (Subscription.Status.CANCELLED, None)


@pytest.mark.django_db
def test_a_failed_attempt_keeps_the_booking_pending_while_another_attempt_is_pending(client, buyer, creator):
    booking = _booking(buyer, creator)
    order = _order(buyer, creator, booking=booking)
    first, _second = payment_start(order), payment_start(order)

    post_webhook(client, payment_body(first, "payment_failed"))

    booking.refresh_from_db()
    order.refresh_from_db()
    assert booking.status == Booking.Status.PENDING
    assert order.status == Order.Status.PENDING


@pytest.mark.django_db
def test_the_last_pending_attempt_failing_cancels_the_booking(client, buyer, creator):
    booking = _booking(buyer, creator)
    order = _order(buyer, creator, booking=booking)
    first, second = payment_start(order), payment_start(order)
    post_webhook(client, payment_body(first, "payment_failed"))

    post_webhook(client, payment_body(second, "payment_failed"))

    booking.refresh_from_db()
    order.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    assert order.status == Order.Status.PAYMENT_FAILED


@pytest.mark.django_db
def test_a_retry_that_pays_after_a_failure_confirms_the_booking_and_starts_the_subscription(client, buyer, creator):
    booking, subscription = _booking(buyer, creator), _subscription(buyer, creator)
    order = _order(buyer, creator, booking=booking, subscription=subscription)
    post_webhook(client, payment_body(payment_start(order), "payment_failed"))

    post_webhook(client, payment_body(payment_start(order)))

    order.refresh_from_db()
    booking.refresh_from_db()
    subscription.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert booking.status == Booking.Status.CONFIRMED
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.started_at is not None


@pytest.mark.django_db
def test_bookings_and_subscriptions_say_what_they_are_and_where_they_stand(buyer, creator):
    booking, subscription = _booking(buyer, creator), _subscription(buyer, creator)

    assert str(booking) == f"Booking #{booking.pk}: Portrait session (Pending)"
    assert str(subscription) == f"Subscription #{subscription.pk}: Monthly (Pending)"
