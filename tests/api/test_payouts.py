"""Payout methods, payouts and ledger entries of a creator through the API."""

from decimal import Decimal

import pytest
import responses

from accounts.models import User
from revenue.models import Payout, PayoutMethod
from tests.api.conftest import error
from tests.factories import earn

WALLET = {"kind": "mobile_wallet", "account_number": "+255 754 111 222", "account_name": "Creator One"}


def creator(external_id: str = "c-1") -> User:
    return User.objects.get(external_id=external_id)


def test_a_mobile_wallet_gets_its_operator_from_the_prefix(api, people):
    response = api.post("people/c-1/payout-methods", WALLET)
    assert response.status_code == 201
    assert response.json() | {"created_at": ""} == {
        "id": response.json()["id"],
        "kind": "mobile_wallet",
        "provider": "M-PESA",
        "account_number": "****1222",
        "account_name": "Creator One",
        "bic": "",
        "is_default": True,
        "created_at": "",
    }
    assert PayoutMethod.objects.get().account_number == "255754111222"
    airtel = api.post("people/c-1/payout-methods", {**WALLET, "account_number": "0688 111 222"}).json()
    assert (airtel["provider"], airtel["is_default"]) == ("AIRTEL MONEY", False)


def test_a_number_in_no_operators_range_is_refused(api, people):
    response = api.post("people/c-1/payout-methods", {**WALLET, "account_number": "0222 111 222"})
    assert response.status_code == 400
    assert (error(response)["code"], error(response)["field"]) == ("invalid_phone_number", "account_number")


def test_a_bank_account_needs_a_bic(api, people):
    body = {"kind": "bank_account", "account_number": "0150123456789", "account_name": "Creator One"}
    response = api.post("people/c-1/payout-methods", body)
    assert (response.status_code, error(response)["field"]) == (400, "bic")
    response = api.post("people/c-1/payout-methods", {**body, "bic": "X!"})
    assert (response.status_code, error(response)["code"]) == (422, "invalid_bic")


def test_a_buyer_has_no_payout_methods(api, people):
    assert api.post("people/u-1/payout-methods", WALLET).status_code == 404


def test_the_default_method_can_change_and_the_list_shows_it(api, people):
    first = api.post("people/c-1/payout-methods", WALLET).json()
    second = api.post("people/c-1/payout-methods", {**WALLET, "account_number": "0688111222"}).json()
    response = api.post(f"people/c-1/payout-methods/{second['id']}/default")
    assert response.json()["is_default"] is True
    listed = api.get("people/c-1/payout-methods").json()
    assert [(m["id"], m["is_default"]) for m in listed] == [(first["id"], False), (second["id"], True)]
    other = api.post(f"people/c-2/payout-methods/{first['id']}/default")
    assert other.status_code == 404


CLICKPESA = "https://clickpesa.test/third-parties"


@pytest.fixture
def clickpesa(settings):
    settings.CLICKPESA_BASE_URL = CLICKPESA
    settings.CLICKPESA_CLIENT_ID, settings.CLICKPESA_API_KEY, settings.CLICKPESA_CHECKSUM_KEY = "id", "key", ""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(f"{CLICKPESA}/generate-token", json={"success": True, "token": "Bearer t"})
        yield mock


def _preview(name: str) -> dict:
    return {
        "amount": 5000,
        "fee": 100,
        "balance": 10**6,
        "channelProvider": "X",
        "payoutFeeBearer": "merchant",
        "receiver": {"accountName": name},
    }


def test_with_credentials_a_bank_must_be_one_clickpesa_pays(api, people, clickpesa):
    clickpesa.get(f"{CLICKPESA}/list/banks", json=[{"name": "CRDB BANK PLC", "value": "CRDB", "bic": "CORUTZTZ"}])
    body = {"kind": "bank_account", "account_number": "0150123456789", "account_name": "Creator One", "bic": "NMIBTZTZ"}
    response = api.post("people/c-1/payout-methods", body)
    assert (response.status_code, error(response)["code"]) == (422, "unknown_bank")
    clickpesa.post(f"{CLICKPESA}/payouts/preview-bank-payout", json=_preview("CREATOR ONE"))
    created = api.post("people/c-1/payout-methods", {**body, "bic": "corutztz"})
    assert created.status_code == 201
    assert (created.json()["provider"], created.json()["bic"]) == ("CRDB BANK PLC", "CORUTZTZ")


def test_with_credentials_the_holders_name_must_match_clickpesas(api, people, clickpesa):
    clickpesa.post(f"{CLICKPESA}/payouts/preview-mobile-money-payout", json=_preview("JUMA HAMISI"))
    response = api.post("people/c-1/payout-methods", WALLET)
    assert (response.status_code, error(response)["code"]) == (422, "account_name_mismatch")
    assert "JUMA HAMISI" in error(response)["message"]
    assert not PayoutMethod.objects.exists()
    clickpesa.post(f"{CLICKPESA}/payouts/preview-mobile-money-payout", json=_preview("CREATOR M. ONE"))
    assert api.post("people/c-1/payout-methods", WALLET).status_code == 201


def test_a_payout_takes_the_whole_available_balance(api, people):
    api.post("people/c-1/payout-methods", WALLET)
    earn(creator(), Decimal("20000.00"))
    response = api.post("creators/c-1/payouts", {})
    assert response.status_code == 201
    payout = response.json()
    assert (payout["creator"], payout["status"], payout["amount"]) == ("c-1", "pending", "18400.00")
    assert payout["destination"].startswith("M-PESA")
    assert api.get(f"payouts/{payout['reference']}").json() == payout
    balance = api.get("creators/c-1/balance").json()
    assert (balance["available"], balance["in_flight"]) == ("0.00", "18400.00")
    again = api.post("creators/c-1/payouts", {})
    assert (again.status_code, error(again)["code"]) == (422, "nothing_available")


def test_a_payout_to_another_creators_method_is_refused(api, people):
    other = api.post("people/c-2/payout-methods", {**WALLET, "account_number": "0754999888"}).json()
    earn(creator(), Decimal("20000.00"))
    response = api.post("creators/c-1/payouts", {"method": other["id"]})
    assert (response.status_code, error(response)["code"]) == (422, "wrong_method")
    missing = api.post("creators/c-1/payouts", {"method": 999999})
    assert (missing.status_code, error(missing)["field"]) == (422, "method")
    assert not Payout.objects.exists()


def test_payouts_are_listed_newest_first_a_page_at_a_time(api, people):
    api.post("people/c-1/payout-methods", WALLET)
    references = []
    for _ in range(3):
        earn(creator(), Decimal("20000.00"))
        references.append(api.post("creators/c-1/payouts", {}).json()["reference"])
    page = api.get("creators/c-1/payouts", {"limit": 2}).json()
    assert [p["reference"] for p in page["data"]] == references[:0:-1]
    rest = api.get("creators/c-1/payouts", {"limit": 2, "cursor": page["next_cursor"]}).json()
    assert ([p["reference"] for p in rest["data"]], rest["next_cursor"]) == ([references[0]], None)


def test_entries_carry_each_accounts_running_balance_across_pages(api, people):
    api.post("people/c-1/payout-methods", WALLET)
    earn(creator(), Decimal("10000.00"))
    earn(creator(), Decimal("20000.00"))
    api.post("creators/c-1/payouts", {})
    first = api.get("creators/c-1/entries", {"limit": 2}).json()
    rest = api.get("creators/c-1/entries", {"limit": 2, "cursor": first["next_cursor"]}).json()
    entries = first["data"] + rest["data"]
    assert [(e["kind"], e["account"], e["amount"], e["balance_after"]) for e in entries] == [
        ("PAYMENT_CAPTURE", "CREATOR_AVAILABLE", "9200.00", "9200.00"),
        ("PAYMENT_CAPTURE", "CREATOR_AVAILABLE", "18400.00", "27600.00"),
        ("PAYOUT_RESERVE", "CREATOR_AVAILABLE", "-27600.00", "0.00"),
        ("PAYOUT_RESERVE", "CREATOR_PAYOUT_IN_FLIGHT", "27600.00", "27600.00"),
    ]
    assert entries[0]["payment"] and entries[2]["payout"]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"cursor": "!!"}, "cursor"),
        ({"limit": "0"}, "limit"),
    ],
)
def test_bad_entry_filters_are_refused(api, people, params, field):
    response = api.get("creators/c-1/entries", params)
    assert response.status_code == 400
    assert error(response)["field"] == field


def test_entries_can_be_bounded_by_time(api, people):
    earn(creator(), Decimal("10000.00"))
    assert len(api.get("creators/c-1/entries", {"from": "2000-01-01", "to": "2999-01-01"}).json()["data"]) == 1
    assert api.get("creators/c-1/entries", {"from": "2999-01-01T00:00:00+03:00"}).json()["data"] == []
