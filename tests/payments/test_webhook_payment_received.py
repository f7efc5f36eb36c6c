"""PAYMENT RECEIVED through the real endpoint: handler 1 (docs/architecture.md) and its refusals."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from clickpesa.models import WebhookEvent
from notifications.models import Notification
from payments.models import Booking, Order, Payment, Subscription
from payments.services import LineSpec, order_create, payment_start
from revenue.models import LedgerTransaction, PlatformFee, TransactionType
from revenue.services import creator_balance
from tests.factories import BuyerFactory, CreatorFactory, OrderFactory, PaymentFactory, UserFactory
from tests.webhooks import payment_body, post_webhook, use_checksum_key


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


def _finance_user():
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get_or_create(name="Finance")[0])
    return user


@pytest.mark.django_db
def test_it_completes_the_payment_with_the_gateway_details(client):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment))

    assert response.status_code == 200
    assert response.json() == {"status": "processed", "event": WebhookEvent.objects.get().pk}
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert (payment.gateway_id, payment.gateway_reference, payment.channel) == (
        "BLN24A7F3K9LCP1A2B",
        "MP240915ABCD1234",
        "M-PESA",
    )
    assert payment.order.status == Order.Status.PAID


@pytest.mark.django_db
def test_it_credits_every_creator_of_the_order_once(client):
    first, second = CreatorFactory(), CreatorFactory()
    payment = PaymentFactory(order=OrderFactory(creators=[first, second], amount=Decimal("10000.00")))

    post_webhook(client, payment_body(payment))

    capture = LedgerTransaction.objects.get()
    assert capture.kind == LedgerTransaction.Kind.PAYMENT_CAPTURE
    assert capture.payment_id == payment.pk
    assert creator_balance(first).available == Decimal("9200.00")
    assert creator_balance(second).available == Decimal("9200.00")
    assert set(PlatformFee.objects.values_list("status", flat=True)) == {PlatformFee.Status.COLLECTED}


@pytest.mark.django_db
def test_it_confirms_bookings_and_activates_subscriptions(client):
    buyer, creator = BuyerFactory(), CreatorFactory()
    booking = Booking.objects.create(buyer=buyer, creator=creator, description="Portrait session")
    subscription = Subscription.objects.create(buyer=buyer, creator=creator, plan="Monthly")
    order = order_create(
        buyer,
        lines=[
            LineSpec(creator, TransactionType.SERVICE_BOOKING, Decimal("20000.00"), booking=booking),
            LineSpec(creator, TransactionType.SUBSCRIPTION, Decimal("5000.00"), subscription=subscription),
        ],
    )

    post_webhook(client, payment_body(payment_start(order)))

    booking.refresh_from_db()
    subscription.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert subscription.status == Subscription.Status.ACTIVE
    assert subscription.started_at is not None


@pytest.mark.django_db
def test_it_writes_a_sale_notice_and_a_receipt(client):
    payment = PaymentFactory()

    post_webhook(client, payment_body(payment))

    creator = payment.order.lines.get().creator
    notifications = {(n.kind, n.recipient_id) for n in Notification.objects.all()}
    assert notifications == {
        (Notification.Kind.SALE, creator.pk),
        (Notification.Kind.RECEIPT, payment.order.buyer_id),
    }
    assert "TZS 11,000.00" in Notification.objects.get(kind=Notification.Kind.RECEIPT).body


@pytest.mark.django_db
def test_a_settled_status_after_success_changes_nothing(client):
    payment = PaymentFactory()
    post_webhook(client, payment_body(payment))

    response = post_webhook(client, payment_body(payment, status="SETTLED"))

    assert response.json()["status"] == "ignored"
    assert WebhookEvent.objects.get(pk=response.json()["event"]).detail == "payment already completed"
    assert LedgerTransaction.objects.count() == 1


@pytest.mark.django_db
def test_an_amount_mismatch_credits_nothing_and_tells_finance(client):
    finance = _finance_user()
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment, amount="10000.00"))

    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW
    assert "expected TZS 11,000.00" in payment.notes
    assert "collected TZS 10,000.00" in payment.notes
    assert payment.order.status == Order.Status.PENDING
    assert not LedgerTransaction.objects.exists()
    alert = Notification.objects.get(kind=Notification.Kind.FINANCE_ALERT)
    assert alert.recipient == finance
    assert payment.reference in alert.subject
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.detail.startswith("needs review: Amount differs")


@pytest.mark.django_db
def test_a_currency_mismatch_credits_nothing(client):
    _finance_user()
    payment = PaymentFactory()

    post_webhook(client, payment_body(payment, currency="USD"))

    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW
    assert "collected USD 11,000.00" in payment.notes
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db
def test_a_payment_for_a_cancelled_order_credits_nothing(client):
    payment = PaymentFactory()
    # No cancellation service exists yet; the order is cancelled the way one would leave it.
    Order.objects.filter(pk=payment.order_id).update(status=Order.Status.CANCELLED)

    post_webhook(client, payment_body(payment))

    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW
    assert payment.order.status == Order.Status.CANCELLED
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db
def test_an_unknown_order_reference_is_acknowledged_and_kept_unmatched(client):
    body = payment_body(PaymentFactory(), reference="BLNSOMEONEELSE1")

    response = post_webhook(client, body)

    assert response.status_code == 200
    assert response.json()["status"] == "unmatched"
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.UNMATCHED
    assert event.detail == "no payment with reference 'BLNSOMEONEELSE1'"
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["PENDING", "PROCESSING", "ON-HOLD", "AUTHORIZED", "pending"])
def test_an_in_progress_status_is_recorded_without_money_change(client, status):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment, status=status))

    assert response.json()["status"] == "ignored"
    event = WebhookEvent.objects.get()
    assert event.gateway_status == status
    assert event.detail == f"status {status} recorded; no money change"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert not LedgerTransaction.objects.exists()
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_an_unknown_status_is_ignored_with_the_word_kept(client):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment, status="WOBBLY"))

    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert WebhookEvent.objects.get().detail == "unknown payment status 'WOBBLY'; nothing changed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db
def test_a_payment_event_sent_to_the_payouts_endpoint_is_still_applied(client):
    """ClickPesa sends every product's events to the one URL configured: dispatch is by event name."""
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment), endpoint="payouts")

    assert response.json()["status"] == "processed"
    assert WebhookEvent.objects.get().endpoint == WebhookEvent.Endpoint.PAYOUTS
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
