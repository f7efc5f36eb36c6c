"""The ClickPesa simulator answers the real client's calls from its state, as ClickPesa would.

Each test starts the simulator in-process on a free port and drives it with ClickPesaClient.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import requests
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from clickpesa.checksum import ChecksumResult
from clickpesa.client import (
    AuthFailed,
    BankPayout,
    ClickPesaClient,
    CoolDown,
    InsufficientBalance,
    InvalidRequest,
    ReferenceAlreadyUsed,
    ServerError,
)
from clickpesa.payloads import GatewayStatus
from devtools.simulator import ClickPesaSimulator

PHONE = "255754000111"


@pytest.fixture(autouse=True)
def simulator_settings(settings):
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    settings.CLICKPESA_CLIENT_ID = "sim-client"
    settings.CLICKPESA_API_KEY = "sim-key"
    settings.CLICKPESA_CHECKSUM_KEY = "sim-checksum-key"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "sim"}}
    cache.clear()
    return settings


@pytest.fixture
def start(settings):
    """Start a simulator with the given knobs and point the client at it."""
    started: list[ClickPesaSimulator] = []

    def start(**knobs) -> ClickPesaSimulator:
        simulator = ClickPesaSimulator(**knobs).start()
        started.append(simulator)
        settings.CLICKPESA_BASE_URL = simulator.url
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


def _create(client: ClickPesaClient, reference: str = "BLNPO1", amount: str = "50000", phone: str = PHONE):
    return client.create_mobile_money_payout(
        amount=Decimal(amount), phone_number=phone, currency="TZS", order_reference=reference
    )


def test_a_created_payout_is_answered_by_the_query(start):
    start()
    client = ClickPesaClient()

    created = _create(client)
    [queried] = client.query_payout(order_reference="BLNPO1")

    assert created.status == GatewayStatus.AUTHORIZED
    assert (queried.gateway_id, queried.status) == (created.gateway_id, GatewayStatus.AUTHORIZED)
    assert (queried.amount, queried.fee, queried.currency) == (Decimal("51180.00"), Decimal("1180.00"), "TZS")
    assert (queried.channel, queried.channel_provider) == ("MOBILE MONEY", "MPESA TANZANIA")


def test_a_reused_payout_reference_is_refused_with_409(start):
    simulator = start()
    client = ClickPesaClient()
    _create(client)

    with pytest.raises(ReferenceAlreadyUsed, match="BLNPO1 already used"):
        _create(client, amount="70000")

    assert list(simulator.payouts) == ["BLNPO1"]
    assert simulator.payouts["BLNPO1"].amount == Decimal("50000")


def test_the_preview_states_the_fee_and_balance(start):
    start(balance=Decimal("900000.00"))

    preview = ClickPesaClient().preview_mobile_money_payout(
        amount=Decimal("50000"), phone_number=PHONE, currency="TZS", order_reference="BLNPO1"
    )

    assert (preview.amount, preview.fee, preview.balance) == (Decimal("51180"), Decimal("1180"), Decimal("900000"))


def test_it_checks_the_client_request_checksum(start):
    simulator = start()

    _create(ClickPesaClient())

    assert simulator.requests[-1].checksum == ChecksumResult.VALID


def test_an_unsigned_request_is_refused_when_a_key_is_configured(start, settings):
    start()
    settings.CLICKPESA_CHECKSUM_KEY = ""

    with pytest.raises(InvalidRequest, match="Invalid checksum"):
        _create(ClickPesaClient())


def test_insufficient_merchant_balance_is_refused(start):
    simulator = start(balance=Decimal("51179.99"))

    with pytest.raises(InsufficientBalance, match=r"available balance is 51179\.99 TZS"):
        _create(ClickPesaClient())

    assert simulator.payouts == {}
    assert simulator.state.balances["TZS"] == Decimal("51179.99")


def test_a_second_payout_to_the_same_wallet_waits_for_the_cool_down(start):
    start(cooldown=60)
    client = ClickPesaClient()
    _create(client, reference="BLNPO1")

    with pytest.raises(CoolDown) as caught:
        _create(client, reference="BLNPO2")

    assert 0 < caught.value.seconds <= 60


def test_an_invalid_phone_number_is_refused(start):
    start()

    with pytest.raises(InvalidRequest, match="Invalid / unsupported phone number"):
        _create(ClickPesaClient(), phone="0754000111")


def test_a_payout_amount_sent_as_a_string_is_refused(start):
    """The simulator holds the client to the documented wire format: payout amounts are numbers."""
    simulator = start(key="")
    token = requests.post(
        f"{simulator.url}/generate-token", headers={"client-id": "sim-client", "api-key": "sim-key"}, timeout=5
    ).json()["token"]

    answer = requests.post(
        f"{simulator.url}/payouts/create-mobile-money-payout",
        json={"amount": "50000", "phoneNumber": PHONE, "currency": "TZS", "orderReference": "BLNPO1"},
        headers={"Authorization": token},
        timeout=5,
    )

    assert (answer.status_code, answer.json()) == (400, {"message": "amount must be a number"})
    assert simulator.payouts == {}


def test_an_expired_token_is_refreshed_by_the_client(start):
    simulator = start()
    client = ClickPesaClient()
    client.balance()
    simulator.expire_tokens()

    client.balance()

    paths = [request.path for request in simulator.requests]
    assert paths == ["/generate-token", "/account/balance", "/account/balance", "/generate-token", "/account/balance"]


def test_wrong_credentials_are_refused(start, settings):
    start()
    settings.CLICKPESA_API_KEY = "not-the-key"

    with pytest.raises(AuthFailed, match="Invalid client details"):
        ClickPesaClient().balance()


def test_a_bank_payout_is_created_and_queried(start):
    start()
    client = ClickPesaClient()

    client.create_bank_payout(
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
    [payout] = client.query_payout(order_reference="BLNPO2")

    assert (payout.channel, payout.channel_provider) == ("BANK TRANSFER", "CRDB BANK PLC")
    assert (payout.amount, payout.fee) == (Decimal("202360.00"), Decimal("2360.00"))
    assert payout.raw["transferType"] == "ACH"


def test_an_unknown_payout_reference_queries_as_empty(start):
    start()

    assert ClickPesaClient().query_payout(order_reference="BLNPO404") == []


def test_an_injected_failure_after_acceptance_still_creates_the_payout(start):
    """ClickPesa accepted the payout but its answer was lost: the query shows the payout."""
    simulator = start()
    simulator.fail_next("/payouts/create-mobile-money-payout", status=502, message="Bad Gateway", after_apply=True)
    client = ClickPesaClient()

    with pytest.raises(ServerError):
        _create(client)

    assert [payout.status for payout in client.query_payout(order_reference="BLNPO1")] == [GatewayStatus.AUTHORIZED]


def test_an_injected_failure_before_acceptance_creates_nothing(start):
    simulator = start()
    simulator.fail_next("/payouts/create-mobile-money-payout", status=500)

    with pytest.raises(ServerError):
        _create(ClickPesaClient())

    assert simulator.payouts == {}


def test_the_statement_lists_the_payout_and_its_fee(start):
    start(balance=Decimal("100000.00"))
    client = ClickPesaClient()
    _create(client)

    statement = client.statement(currency="TZS", start_date=date(2000, 1, 1), end_date=date(2100, 1, 1))

    assert [(row.type, row.entry, row.amount, row.balance) for row in statement.rows] == [
        ("Payout", "Debit", Decimal("50000.00"), Decimal("50000.00")),
        ("Fee - Payout", "Debit", Decimal("1180.00"), Decimal("48820.00")),
    ]
    assert (statement.opening_balance, statement.closing_balance) == (Decimal("100000.00"), Decimal("48820.00"))
    assert {b.currency: b.balance for b in client.balance()}["TZS"] == Decimal("48820.00")


def test_a_ussd_push_is_answered_by_the_payment_query(start):
    start()
    client = ClickPesaClient()

    started = client.initiate_ussd_push(
        amount=Decimal("25000"), currency="TZS", order_reference="BLN1", phone_number="255684000111"
    )
    [queried] = client.query_payment(order_reference="BLN1")

    assert started.status == GatewayStatus.PROCESSING
    assert (queried.gateway_id, queried.status, queried.amount) == (
        started.gateway_id,
        GatewayStatus.PROCESSING,
        Decimal("25000"),
    )
    assert queried.channel == "AIRTEL-MONEY"


def test_a_reused_payment_reference_is_refused_with_409(start):
    start()
    client = ClickPesaClient()
    client.initiate_ussd_push(amount=1000, currency="TZS", order_reference="BLN1", phone_number=PHONE)

    with pytest.raises(ReferenceAlreadyUsed):
        client.initiate_ussd_push(amount=1000, currency="TZS", order_reference="BLN1", phone_number=PHONE)


def test_it_refuses_to_start_with_debug_off_unless_enabled(settings):
    settings.DEBUG = False
    settings.CLICKPESA_SIMULATOR_ENABLED = False

    with pytest.raises(ImproperlyConfigured, match="development only"):
        ClickPesaSimulator().start()


def test_it_starts_with_debug_on(settings):
    settings.DEBUG = True
    settings.CLICKPESA_SIMULATOR_ENABLED = False

    with ClickPesaSimulator() as simulator:
        answer = requests.get(f"{simulator.url}/account/balance", timeout=5)

    assert answer.status_code == 401
