"""A creator's balance through the API, as the ledger has it."""

from decimal import Decimal

from accounts.models import User
from tests.api.conftest import error
from tests.factories import earn


def test_a_new_creator_has_nothing(api, people):
    assert api.get("creators/c-1/balance").json() == {
        "creator": "c-1",
        "currency": "TZS",
        "pending": "0.00",
        "available": "0.00",
        "in_flight": "0.00",
        "earned": "0.00",
        "paid_out": "0.00",
    }


def test_earnings_show_as_available_and_earned(api, people):
    earn(User.objects.get(external_id="c-1"), Decimal("10000.00"))
    balance = api.get("creators/c-1/balance").json()
    assert (balance["available"], balance["earned"]) == ("9200.00", "9200.00")  # marketplace: 8 %


def test_a_buyer_or_stranger_has_no_balance(api, people):
    assert error(api.get("creators/u-1/balance"))["code"] == "not_found"
    assert api.get("creators/ghost/balance").status_code == 404


def test_an_unknown_currency_is_refused(api, people):
    response = api.get("creators/c-1/balance", {"currency": "EUR"})
    assert response.status_code == 400
    assert error(response)["field"] == "currency"
