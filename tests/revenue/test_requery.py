"""Support's "Re-query ClickPesa" on payouts and payments: ClickPesa faked at the HTTP layer."""

from decimal import Decimal

import pytest
import responses
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from clickpesa.models import WebhookEvent
from clickpesa.payloads import GatewayStatus
from payments.models import Payment
from revenue.models import Payout
from revenue.services import payout_apply_gateway_status
from tests.factories import PaymentFactory, PayoutFactory
from tests.staff import messages_of

BASE = "https://clickpesa.invalid/third-parties"
PAYOUTS = reverse("admin:revenue_payout_changelist")
PAYMENTS = reverse("admin:payments_payment_changelist")


@pytest.fixture
def clickpesa(settings):
    """ClickPesa's API, answered by `responses`: a token, then whatever each test registers."""
    settings.CLICKPESA_BASE_URL = BASE
    settings.CLICKPESA_CLIENT_ID, settings.CLICKPESA_API_KEY = "client", "key"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.post(f"{BASE}/generate-token", json={"success": True, "token": "Bearer t"})
        yield api


@pytest.fixture
def processing() -> Payout:
    payout = PayoutFactory()
    payout_apply_gateway_status(payout, GatewayStatus.PROCESSING, source="webhook", gateway_id="PAYX1")
    payout.refresh_from_db()
    return payout


def payout_answer(payout: Payout, status: str) -> list[dict]:
    return [
        {
            "id": "PAYX1",
            "orderReference": payout.reference,
            "amount": str(payout.amount + Decimal("1180.00")),
            "fee": "1180.00",
            "currency": "TZS",
            "status": status,
            "channel": "MOBILE MONEY",
            "channelProvider": "MPESA TANZANIA",
            "createdAt": "2026-05-14T07:00:00.000Z",
            "updatedAt": "2026-05-14T07:00:04.000Z",
        }
    ]


@pytest.mark.django_db
def test_support_requeries_a_payout_and_clickpesas_answer_is_applied(support, support_user, processing, clickpesa):
    clickpesa.get(f"{BASE}/payouts/{processing.reference}", json=payout_answer(processing, "SUCCESS"))
    response = support.action(PAYOUTS, "requery_payouts", [processing])
    assert messages_of(response)[0] == "1 payout re-queried"
    assert messages_of(response)[1].startswith(f"{processing.reference}: ")
    processing.refresh_from_db()
    assert processing.status == Payout.Status.PAID
    assert processing.gateway_fee == Decimal("1180.00")
    event = WebhookEvent.objects.get(order_reference=processing.reference)
    assert (event.source, event.status) == (WebhookEvent.Source.POLL, WebhookEvent.Status.PROCESSED)
    log = LogEntry.objects.get(object_id=str(processing.pk), content_type__model="payout")
    assert log.user == support_user and log.change_message.startswith("Re-queried ClickPesa: ")


@pytest.mark.django_db
def test_a_requery_clickpesa_does_not_answer_is_reported_and_changes_nothing(support, processing, clickpesa):
    clickpesa.get(f"{BASE}/payouts/{processing.reference}", status=503, json={"message": "maintenance"})
    response = support.action(PAYOUTS, "requery_payouts", [processing])
    assert messages_of(response)[0] == "0 payouts re-queried, 1 skipped: ClickPesa did not answer"
    processing.refresh_from_db()
    assert processing.status == Payout.Status.PROCESSING
    assert not LogEntry.objects.filter(object_id=str(processing.pk), content_type__model="payout").exists()


@pytest.mark.django_db
def test_finance_cannot_requery(finance, processing, clickpesa):
    finance.action(PAYOUTS, "requery_payouts", [processing])
    assert not [call for call in clickpesa.calls if "/payouts/" in call.request.url]
    processing.refresh_from_db()
    assert processing.status == Payout.Status.PROCESSING


@pytest.mark.django_db
def test_support_requeries_a_payment_that_clickpesa_collected(support, clickpesa):
    payment = PaymentFactory()
    clickpesa.get(
        f"{BASE}/payments/{payment.reference}",
        json=[
            {
                "id": "PAY1",
                "status": "SUCCESS",
                "paymentReference": "CPREF1",
                "orderReference": payment.reference,
                "collectedAmount": str(payment.amount),
                "collectedCurrency": "TZS",
                "channel": "M-PESA",
                "createdAt": "2026-05-14T07:00:00.000Z",
                "updatedAt": "2026-05-14T07:00:04.000Z",
            }
        ],
    )
    response = support.action(PAYMENTS, "requery_payments", [payment])
    assert messages_of(response)[0] == "1 payment re-queried"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
