"""A webhook in a currency Blinno does not handle is refused with a clear 400: no 500 retried until DEAD
(TZSX did not fit the column), no ledger accounts opened in it (ABC did)."""

import pytest

from clickpesa.models import WebhookEvent
from revenue.models import Deposit, LedgerAccount
from tests.factories import PaymentFactory, PayoutFactory
from tests.webhooks import payment_body, post_webhook, sample_body, use_checksum_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _key(settings):
    use_checksum_key(settings)


@pytest.mark.parametrize("currency", ["TZSX", "ABC", "tzs ", "usd", "XXX", "€"])
def test_a_deposit_in_another_currency_is_refused(client, currency):
    response = post_webhook(client, sample_body("deposit_received", currency=currency), endpoint="payouts")

    if currency.strip().upper() in ("TZS", "USD"):
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert "unsupported depositCurrency" in response.json()["error"]
    assert "TZS, USD" in response.json()["error"]
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.REJECTED
    assert not Deposit.objects.exists()
    assert not LedgerAccount.objects.exclude(currency__in=["TZS", "USD"]).exists()


def test_a_payment_in_another_currency_is_refused(client):
    payment = PaymentFactory()
    response = post_webhook(client, payment_body(payment, currency="ABC"))
    assert response.status_code == 400
    assert "unsupported collectedCurrency 'ABC'" in response.json()["error"]
    payment.refresh_from_db()
    assert payment.status == payment.Status.PENDING


def test_a_payout_event_in_another_currency_is_refused(client):
    payout = PayoutFactory()
    body = sample_body("payout_initiated_success", reference=payout.reference, amount=payout.amount, currency="TZSX")
    response = post_webhook(client, body, endpoint="payouts")
    assert response.status_code == 400
    payout.refresh_from_db()
    assert payout.status == payout.Status.PENDING
