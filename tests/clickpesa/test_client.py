"""ClickPesaClient sends exactly the documented requests and reads the answers into typed values.

ClickPesa is faked at the HTTP layer with `responses`; every request is asserted as sent.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import responses
from django.core.cache import cache

from clickpesa.checksum import ChecksumResult, compute, verify
from clickpesa.client import BankPayout, ClickPesaClient, encode_json
from clickpesa.payloads import GatewayStatus

BASE = "https://clickpesa.test/third-parties"
TOKEN = "Bearer token-one"


@pytest.fixture(autouse=True)
def clickpesa_settings(settings):
    settings.CLICKPESA_BASE_URL = BASE
    settings.CLICKPESA_CLIENT_ID = "client-1"
    settings.CLICKPESA_API_KEY = "key-1"
    settings.CLICKPESA_CHECKSUM_KEY = ""
    settings.CLICKPESA_TIMEOUT_SECONDS = 7.5
    # A process-local cache: tokens cached by one test (or one xdist worker) never leak into another.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "client"}}
    cache.clear()
    return settings


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/generate-token", json={"success": True, "token": TOKEN})
        yield mock


@pytest.fixture
def offline():
    """No answer registered: any request the client sends is recorded and fails."""
    with responses.RequestsMock() as mock:
        yield mock


def _body(call: responses.Call) -> dict:
    return json.loads(call.request.body)


PAYOUT_ANSWER = {
    "id": "PAYX7Q2M9",
    "orderReference": "BLNPO1",
    "amount": "51180.00",
    "currency": "TZS",
    "fee": "1180.00",
    "status": "AUTHORIZED",
    "channel": "MOBILE MONEY",
    "channelProvider": "MPESA TANZANIA",
    "createdAt": "2025-09-16T07:00:00.000Z",
    "updatedAt": "2025-09-16T07:00:02.000Z",
}


def test_it_initiates_a_ussd_push_and_reads_the_payment(api):
    api.post(
        f"{BASE}/payments/initiate-ussd-push-request",
        json={
            "id": "BLN1LCP1",
            "status": "PROCESSING",
            "channel": "M-PESA",
            "orderReference": "BLN1",
            "collectedAmount": "12500.50",
            "collectedCurrency": "TZS",
            "createdAt": "2025-09-15T08:01:12.000Z",
        },
    )

    payment = ClickPesaClient().initiate_ussd_push(
        amount="12500.5", currency="TZS", order_reference="BLN1", phone_number="255712345678"
    )

    call = api.calls[1]
    assert call.request.url == f"{BASE}/payments/initiate-ussd-push-request"
    assert _body(call)["amount"] == "12500.50"
    assert payment.gateway_id == "BLN1LCP1"
    assert payment.status == GatewayStatus.PROCESSING
    assert payment.amount == Decimal("12500.50")
    assert payment.created_at == datetime(2025, 9, 15, 8, 1, 12, tzinfo=UTC)


def test_it_queries_a_payment_by_reference(api):
    api.get(
        f"{BASE}/payments/BLN1",
        json=[
            {
                "id": "BLN1LCP1",
                "status": "SETTLED",
                "paymentReference": "MP1",
                "orderReference": "BLN1",
                "collectedAmount": 25000,
                "collectedCurrency": "TZS",
                "message": "success",
                "customer": {"customerPhoneNumber": "255712345678"},
            }
        ],
    )

    payments = ClickPesaClient().query_payment(order_reference="BLN1")

    call = api.calls[1]
    assert (call.request.method, call.request.url, call.request.body) == ("GET", f"{BASE}/payments/BLN1", None)
    assert call.request.headers["Authorization"] == TOKEN
    assert [(p.order_reference, p.status, p.amount, p.customer_phone) for p in payments] == [
        ("BLN1", GatewayStatus.SETTLED, Decimal("25000"), "255712345678")
    ]


def test_an_unknown_payment_reference_is_an_empty_list(api):
    api.get(f"{BASE}/payments/BLN404", status=404, json={"message": "Invalid or missing payment: BLN404"})

    assert ClickPesaClient().query_payment(order_reference="BLN404") == []


def test_it_previews_a_mobile_money_payout_with_the_amount_as_a_number(api):
    api.post(
        f"{BASE}/payouts/preview-mobile-money-payout",
        json={"amount": 51180, "fee": 1180, "balance": 900000, "channelProvider": "MPESA TANZANIA"},
    )

    preview = ClickPesaClient().preview_mobile_money_payout(
        amount=Decimal("50000.00"), phone_number="255754000111", currency="TZS", order_reference="BLNPO1"
    )

    call = api.calls[1]
    assert call.request.url == f"{BASE}/payouts/preview-mobile-money-payout"
    assert call.request.headers["Authorization"] == TOKEN
    assert call.request.body == (
        b'{"amount":50000,"phoneNumber":"255754000111","currency":"TZS","orderReference":"BLNPO1"}'
    )
    assert (preview.amount, preview.fee, preview.balance) == (Decimal("51180"), Decimal("1180"), Decimal("900000"))


def test_it_creates_a_mobile_money_payout_and_reads_the_payout(api):
    api.post(f"{BASE}/payouts/create-mobile-money-payout", json=PAYOUT_ANSWER)

    payout = ClickPesaClient().create_mobile_money_payout(
        amount=Decimal("50000.00"), phone_number="255754000111", currency="TZS", order_reference="BLNPO1"
    )

    call = api.calls[1]
    assert call.request.url == f"{BASE}/payouts/create-mobile-money-payout"
    assert _body(call) == {
        "amount": 50000,
        "phoneNumber": "255754000111",
        "currency": "TZS",
        "orderReference": "BLNPO1",
    }
    assert payout.gateway_id == "PAYX7Q2M9"
    assert payout.status == GatewayStatus.AUTHORIZED
    assert (payout.amount, payout.fee, payout.currency) == (Decimal("51180.00"), Decimal("1180.00"), "TZS")
    assert payout.channel == "MOBILE MONEY"
    assert payout.updated_at == datetime(2025, 9, 16, 7, 0, 2, tzinfo=UTC)
    assert payout.raw == PAYOUT_ANSWER


def test_it_sends_cents_as_an_exact_decimal_literal(api):
    """A payout of 12,345.67 travels as the literal 12345.67, not a float's approximation."""
    api.post(f"{BASE}/payouts/create-mobile-money-payout", json=PAYOUT_ANSWER)

    ClickPesaClient().create_mobile_money_payout(
        amount=Decimal("12345.67"), phone_number="255754000111", currency="TZS", order_reference="BLNPO1"
    )

    assert b'"amount":12345.67,' in api.calls[1].request.body
    assert json.loads(api.calls[1].request.body, parse_float=Decimal)["amount"] == Decimal("12345.67")


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5"), Decimal("10.005")])
def test_it_refuses_an_invalid_amount_before_sending(offline, amount):
    with pytest.raises(ValueError):
        ClickPesaClient().create_mobile_money_payout(
            amount=amount, phone_number="255754000111", currency="TZS", order_reference="BLNPO1"
        )

    assert len(offline.calls) == 0


def test_it_refuses_a_float_amount(offline):
    with pytest.raises(TypeError):
        ClickPesaClient().create_mobile_money_payout(
            amount=50000.0, phone_number="255754000111", currency="TZS", order_reference="BLNPO1"
        )

    assert len(offline.calls) == 0


def test_it_previews_a_bank_payout_with_every_field(api):
    api.post(
        f"{BASE}/payouts/preview-bank-payout",
        json={
            "amount": 202360,
            "fee": 2360,
            "receiver": {"accountName": "NEEMA KIMARO"},
            "payoutFeeBearer": "merchant",
        },
    )

    preview = ClickPesaClient().preview_bank_payout(
        BankPayout(
            amount=Decimal("200000"),
            account_number="0150123456789",
            account_name="NEEMA KIMARO",
            bic="CORUTZTZ",
            transfer_type="ACH",
            currency="TZS",
            account_currency="TZS",
            order_reference="BLNPO2",
        )
    )

    call = api.calls[1]
    assert call.request.url == f"{BASE}/payouts/preview-bank-payout"
    assert _body(call) == {
        "amount": 200000,
        "accountNumber": "0150123456789",
        "accountName": "NEEMA KIMARO",
        "bic": "CORUTZTZ",
        "transferType": "ACH",
        "currency": "TZS",
        "accountCurrency": "TZS",
        "orderReference": "BLNPO2",
    }
    assert (preview.receiver_name, preview.fee_bearer) == ("NEEMA KIMARO", "merchant")


def test_it_creates_a_bank_payout(api):
    api.post(
        f"{BASE}/payouts/create-bank-payout",
        json={**PAYOUT_ANSWER, "orderReference": "BLNPO2", "channel": "BANK TRANSFER", "transferType": "RTGS"},
    )

    payout = ClickPesaClient().create_bank_payout(
        BankPayout(
            amount=Decimal("200000"),
            account_number="0150123456789",
            account_name="NEEMA KIMARO",
            bic="CORUTZTZ",
            transfer_type="RTGS",
            currency="TZS",
            account_currency="TZS",
            order_reference="BLNPO2",
        )
    )

    call = api.calls[1]
    assert call.request.url == f"{BASE}/payouts/create-bank-payout"
    assert _body(call)["transferType"] == "RTGS"
    assert (payout.order_reference, payout.channel) == ("BLNPO2", "BANK TRANSFER")


def test_it_queries_a_payout_by_reference(api):
    api.get(f"{BASE}/payouts/BLNPO1", json=[{**PAYOUT_ANSWER, "status": "REFUNDED"}])

    payouts = ClickPesaClient().query_payout(order_reference="BLNPO1")

    call = api.calls[1]
    assert (call.request.method, call.request.url) == ("GET", f"{BASE}/payouts/BLNPO1")
    assert call.request.headers["Authorization"] == TOKEN
    assert [(p.gateway_id, p.status, p.raw_status) for p in payouts] == [
        ("PAYX7Q2M9", GatewayStatus.REFUNDED, "REFUNDED")
    ]


def test_an_unknown_payout_reference_is_an_empty_list(api):
    api.get(f"{BASE}/payouts/BLNPO404", status=404, json={"message": "Invalid or missing payout: BLNPO404"})

    assert ClickPesaClient().query_payout(order_reference="BLNPO404") == []


def test_it_refuses_a_reference_that_is_not_alphanumeric(offline):
    with pytest.raises(ValueError):
        ClickPesaClient().query_payout(order_reference="../account/balance")

    assert len(offline.calls) == 0


def test_it_reads_the_balance_without_floats(api):
    api.get(f"{BASE}/account/balance", body='[{"currency":"TZS","balance":1234567.89}]')

    balances = ClickPesaClient().balance()

    call = api.calls[1]
    assert (call.request.method, call.request.url) == ("GET", f"{BASE}/account/balance")
    assert [(b.currency, b.balance) for b in balances] == [("TZS", Decimal("1234567.89"))]


def test_it_reads_the_statement_for_a_period(api):
    api.get(
        f"{BASE}/account/statement",
        json={
            "accountDetails": {"currency": "TZS", "openingBalance": 0, "closingBalance": 48820, "totalCredits": 100000},
            "transactions": [
                {
                    "id": "ST1",
                    "orderReference": "BLNPO1",
                    "date": "2025-09-16T07:00:00.000Z",
                    "description": "Payout to 255754000111",
                    "entry": "Debit",
                    "amount": 50000,
                    "currency": "TZS",
                    "balance": 50000,
                    "type": "Payout",
                }
            ],
        },
    )

    statement = ClickPesaClient().statement(currency="TZS", start_date=date(2025, 9, 1), end_date=date(2025, 9, 30))

    call = api.calls[1]
    assert call.request.url == f"{BASE}/account/statement?currency=TZS&startDate=2025-09-01&endDate=2025-09-30"
    assert statement.closing_balance == Decimal("48820")
    row = statement.rows[0]
    assert (row.id, row.order_reference, row.entry, row.amount, row.balance, row.type) == (
        "ST1",
        "BLNPO1",
        "Debit",
        Decimal("50000"),
        Decimal("50000"),
        "Payout",
    )
    assert row.date == datetime(2025, 9, 16, 7, 0, tzinfo=UTC)


def test_it_adds_a_checksum_to_the_body_when_a_key_is_configured(api, settings):
    settings.CLICKPESA_CHECKSUM_KEY = "request-key"
    api.post(f"{BASE}/payouts/create-mobile-money-payout", json=PAYOUT_ANSWER)

    ClickPesaClient().create_mobile_money_payout(
        amount=Decimal("50000.50"), phone_number="255754000111", currency="TZS", order_reference="BLNPO1"
    )

    sent = _body(api.calls[1])
    signed = {"amount": 50000.5, "phoneNumber": "255754000111", "currency": "TZS", "orderReference": "BLNPO1"}
    assert sent["checksum"] == compute(signed, "request-key")
    assert verify(sent, "request-key") == ChecksumResult.VALID


def test_it_sends_no_checksum_without_a_key(api):
    api.post(f"{BASE}/payouts/create-mobile-money-payout", json=PAYOUT_ANSWER)

    ClickPesaClient().create_mobile_money_payout(
        amount=Decimal("50000"), phone_number="255754000111", currency="TZS", order_reference="BLNPO1"
    )

    assert "checksum" not in _body(api.calls[1])


CALLS = {
    "initiate_ussd_push": (
        "POST",
        "/payments/initiate-ussd-push-request",
        lambda c: c.initiate_ussd_push(amount=1000, currency="TZS", order_reference="R1", phone_number="255712345678"),
    ),
    "query_payment": ("GET", "/payments/R1", lambda c: c.query_payment(order_reference="R1")),
    "preview_mobile_money_payout": (
        "POST",
        "/payouts/preview-mobile-money-payout",
        lambda c: c.preview_mobile_money_payout(
            amount=1000, phone_number="255712345678", currency="TZS", order_reference="R1"
        ),
    ),
    "create_mobile_money_payout": (
        "POST",
        "/payouts/create-mobile-money-payout",
        lambda c: c.create_mobile_money_payout(
            amount=1000, phone_number="255712345678", currency="TZS", order_reference="R1"
        ),
    ),
    "preview_bank_payout": (
        "POST",
        "/payouts/preview-bank-payout",
        lambda c: c.preview_bank_payout(
            BankPayout(
                amount=1000,
                account_number="1",
                account_name="A",
                bic="CORUTZTZ",
                transfer_type="ACH",
                currency="TZS",
                account_currency="TZS",
                order_reference="R1",
            )
        ),
    ),
    "create_bank_payout": (
        "POST",
        "/payouts/create-bank-payout",
        lambda c: c.create_bank_payout(
            BankPayout(
                amount=1000,
                account_number="1",
                account_name="A",
                bic="CORUTZTZ",
                transfer_type="ACH",
                currency="TZS",
                account_currency="TZS",
                order_reference="R1",
            )
        ),
    ),
    "query_payout": ("GET", "/payouts/R1", lambda c: c.query_payout(order_reference="R1")),
    "balance": ("GET", "/account/balance", lambda c: c.balance()),
    "statement": (
        "GET",
        "/account/statement",
        lambda c: c.statement(currency="TZS", start_date=date(2025, 1, 1), end_date=date(2025, 1, 2)),
    ),
}


def _minimal_answer(path: str) -> object:
    if path.startswith(("/payments/R1", "/payouts/R1", "/account/balance")):
        return []
    if path == "/account/statement":
        return {"transactions": []}
    return {}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_call_has_a_timeout(api, name):
    method, path, call = CALLS[name]
    api.add(method, f"{BASE}{path}", json=_minimal_answer(path))

    call(ClickPesaClient())

    assert [c.request.req_kwargs["timeout"] for c in api.calls] == [7.5, 7.5]


@pytest.mark.parametrize("name", sorted(CALLS))
def test_every_call_carries_the_cached_token(api, name):
    method, path, call = CALLS[name]
    api.add(method, f"{BASE}{path}", json=_minimal_answer(path))

    call(ClickPesaClient())

    assert api.calls[1].request.headers["Authorization"] == TOKEN
    assert api.calls[1].request.headers["Accept"] == "application/json"


def test_encode_json_writes_nested_decimals_exactly():
    assert encode_json({"a": [Decimal("1.10"), {"b": Decimal("100.00")}], "c": "Zoë"}) == (
        '{"a":[1.1,{"b":100}],"c":"Zoë"}'.encode()
    )
