"""Orders and payments through the API: the fee breakdown, cancelling, starting a payment."""

from decimal import Decimal

import pytest
import responses

from payments.models import Order, Payment
from revenue.models import PlatformFee
from tests.api.conftest import error

BODY = {
    "buyer": "u-1",
    "currency": "TZS",
    "lines": [
        {"creator": "c-1", "transaction_type": "digital_product", "amount": "25000.00", "description": "E-book"},
        {"creator": "c-1", "transaction_type": "tip", "amount": "2000"},
        {"creator": "c-2", "transaction_type": "service_booking", "amount": "10000.50"},
    ],
}


def test_an_order_comes_back_with_its_fee_breakdown(api, people):
    response = api.post("orders", BODY)
    assert response.status_code == 201
    order = response.json()
    assert order["status"] == "pending"
    assert order["buyer"] == "u-1"
    assert (order["subtotal"], order["processing_fee"], order["total"]) == ("37000.50", "1675.01", "38675.51")
    assert order["creators"] == [
        {"creator": "c-1", "subtotal": "27000.00", "platform_fee": "2000.00", "net": "25000.00"},
        {"creator": "c-2", "subtotal": "10000.50", "platform_fee": "1000.05", "net": "9000.45"},
    ]
    assert [line["transaction_type"] for line in order["lines"]] == ["digital_product", "tip", "service_booking"]
    assert order["created_at"].endswith("+03:00")
    fees = PlatformFee.objects.filter(order_id=order["id"])
    assert sum(f.creator_amount for f in fees) == Decimal("34000.45")


def test_get_shows_the_order(api, people):
    created = api.post("orders", BODY).json()
    assert api.get(f"orders/{created['id']}").json() == created


def test_an_unknown_buyer_or_creator_is_named(api, people):
    response = api.post("orders", {**BODY, "buyer": "ghost"})
    assert (response.status_code, error(response)["code"], error(response)["field"]) == (422, "unknown_person", "buyer")
    lines = [*BODY["lines"], {"creator": "u-1", "transaction_type": "tip", "amount": "1"}]
    response = api.post("orders", {**BODY, "lines": lines})
    assert error(response) | {"message": ""} == {"code": "unknown_creator", "message": "", "field": "lines[3].creator"}
    assert not Order.objects.exists()


def test_an_order_without_lines_is_refused(api, people):
    response = api.post("orders", {**BODY, "lines": []})
    assert response.status_code == 400
    assert error(response)["field"] == "lines"


def test_an_unpaid_order_can_be_cancelled_once(api, people):
    order = api.post("orders", BODY).json()
    response = api.post(f"orders/{order['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert set(PlatformFee.objects.filter(order_id=order["id"]).values_list("status", flat=True)) == {"REFUNDED"}
    again = api.post(f"orders/{order['id']}/cancel")
    assert again.status_code == 422
    assert error(again)["code"] == "order_closed"


def test_a_ussd_push_payment_is_started_with_the_phone_in_clickpesas_form(api, people):
    order = api.post("orders", BODY).json()
    response = api.post(f"orders/{order['id']}/payments", {"method": "ussd_push", "phone": "0754 000 001"})
    assert response.status_code == 201
    payment = response.json()
    assert payment | {"reference": "", "created_at": ""} == {
        "reference": "",
        "order": order["id"],
        "method": "ussd_push",
        "status": "pending",
        "amount": "38675.51",
        "currency": "TZS",
        "phone": "255754000001",
        "link": None,
        "failure_reason": "",
        "created_at": "",
        "completed_at": None,
    }
    assert api.get(f"payments/{payment['reference']}").json() == payment
    assert api.get(f"orders/{order['id']}").json()["payments"] == [payment]


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"method": "ussd_push"}, "phone", 400),
        ({"method": "ussd_push", "phone": "0222000000"}, "phone", 400),
        ({"method": "card"}, "customer", 400),
        ({"method": "cash"}, "method", 400),
    ],
)
def test_a_payment_without_what_its_method_needs_is_refused(api, people, body, field, status):
    order = api.post("orders", BODY).json()
    response = api.post(f"orders/{order['id']}/payments", body)
    assert response.status_code == status
    assert error(response)["field"] == field
    assert not Payment.objects.exists()


def test_a_paid_or_cancelled_order_takes_no_payment(api, people):
    order = api.post("orders", BODY).json()
    api.post(f"orders/{order['id']}/cancel")
    response = api.post(f"orders/{order['id']}/payments", {"method": "ussd_push", "phone": "0754000001"})
    assert response.status_code == 422
    assert error(response)["code"] == "order_closed"


def test_a_link_payment_without_clickpesa_credentials_is_a_503(api, people, settings):
    settings.CLICKPESA_CLIENT_ID = settings.CLICKPESA_API_KEY = ""
    order = api.post("orders", BODY).json()
    response = api.post(f"orders/{order['id']}/payments", {"method": "checkout_link"})
    assert response.status_code == 503
    assert error(response)["code"] == "gateway_unavailable"


@responses.activate
def test_a_card_payment_returns_clickpesas_link(api, people, settings):
    settings.CLICKPESA_BASE_URL = "https://clickpesa.test/third-parties"
    settings.CLICKPESA_CLIENT_ID, settings.CLICKPESA_API_KEY, settings.CLICKPESA_CHECKSUM_KEY = "id", "key", ""
    responses.post("https://clickpesa.test/third-parties/generate-token", json={"success": True, "token": "Bearer t"})
    card = responses.post(
        "https://clickpesa.test/third-parties/payments/initiate-card-payment",
        json={"cardPaymentLink": "https://pay.clickpesa.test/card/abc", "clientId": "id"},
    )
    order = api.post("orders", BODY).json()
    response = api.post(f"orders/{order['id']}/payments", {"method": "card", "customer": "u-1"})
    assert response.status_code == 201
    assert response.json()["link"] == "https://pay.clickpesa.test/card/abc"
    assert response.json()["method"] == "card"
    assert b'"customer":{"id":"u-1"}' in card.calls[0].request.body.replace(b" ", b"")


@responses.activate
def test_a_checkout_link_clickpesa_refuses_fails_the_payment(api, people, settings):
    settings.CLICKPESA_BASE_URL = "https://clickpesa.test/third-parties"
    settings.CLICKPESA_CLIENT_ID, settings.CLICKPESA_API_KEY, settings.CLICKPESA_CHECKSUM_KEY = "id", "key", ""
    responses.post("https://clickpesa.test/third-parties/generate-token", json={"success": True, "token": "Bearer t"})
    responses.post(
        "https://clickpesa.test/third-parties/checkout-link/generate-checkout-url",
        status=400,
        json={"message": "Invalid amount"},
    )
    order = api.post("orders", BODY).json()
    response = api.post(f"orders/{order['id']}/payments", {"method": "checkout_link"})
    assert response.status_code == 422
    assert error(response)["code"] == "payment_refused"
    assert Payment.objects.get().status == Payment.Status.FAILED
    assert Order.objects.get().status == Order.Status.PAYMENT_FAILED
