"""Every shared ClickPesa sample through the real endpoint: verified, stored, and its documented effect."""

from decimal import Decimal

import pytest

from clickpesa.checksum import ChecksumResult
from clickpesa.models import WebhookEvent
from notifications.models import Notification
from payments.models import Order, Payment
from revenue.models import LedgerTransaction, PlatformFee
from revenue.services import creator_balance
from tests.clickpesa.samples import sample, sample_bytes, sample_names
from tests.factories import PaymentFactory
from tests.webhooks import payment_body, post_webhook, use_checksum_key

PAYMENT_SUCCESS_SAMPLES = [
    "payment_received.json",
    "payment_received_legacy_fields.json",
    "payment_received_non_ascii.json",
]


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sample_names())
def test_every_sample_is_accepted_with_its_published_checksum(client, name):
    endpoint = "payouts" if sample(name)["event"].startswith("PAYOUT") else "payments"

    response = post_webhook(client, raw=sample_bytes(name), endpoint=endpoint)

    assert response.status_code == 200, response.json()
    event = WebhookEvent.objects.get()
    assert event.checksum_result == ChecksumResult.VALID
    assert event.event_name == sample(name)["event"]
    assert event.status not in (WebhookEvent.Status.REJECTED, WebhookEvent.Status.FAILED)


@pytest.mark.django_db
@pytest.mark.parametrize("name", PAYMENT_SUCCESS_SAMPLES)
def test_a_payment_received_sample_captures_its_payment(client, name):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment, name))

    assert response.json()["status"] == "processed"
    payment.refresh_from_db()
    data = sample(name)["data"]
    assert payment.status == Payment.Status.COMPLETED
    assert payment.gateway_id == data.get("id", data.get("paymentId"))
    assert payment.gateway_reference == data.get("paymentReference", "")
    assert payment.channel == data.get("channel", "")
    assert payment.order.status == Order.Status.PAID
    assert set(PlatformFee.objects.values_list("status", flat=True)) == {PlatformFee.Status.COLLECTED}
    assert LedgerTransaction.objects.get().kind == LedgerTransaction.Kind.PAYMENT_CAPTURE
    assert creator_balance(payment.order.lines.get().creator).available == Decimal("9200.00")
    assert Notification.objects.count() == 2


@pytest.mark.django_db
def test_the_payment_failed_sample_fails_its_payment(client):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment, "payment_failed"))

    assert response.json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payment.failure_reason == "Insufficient balance"
    assert payment.order.status == Order.Status.PAYMENT_FAILED
    assert not LedgerTransaction.objects.exists()
    assert Notification.objects.get().kind == Notification.Kind.PAYMENT_FAILED
