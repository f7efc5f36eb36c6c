"""Every client mistake is one specific 4xx in the one error shape, and changes nothing."""

import pytest

from payments.models import Order
from tests.api.conftest import error


def _order(**changes):
    body = {"buyer": "u-1", "lines": [{"creator": "c-1", "transaction_type": "tip", "amount": "1000.00"}]}
    body.update(changes)
    return body


def test_malformed_json_is_a_400(api, people):
    response = api.post("orders", raw=b'{"buyer": ')
    assert response.status_code == 400
    assert error(response)["code"] == "malformed_json"


def test_a_body_that_is_not_an_object_is_a_400(api, people):
    response = api.post("orders", [1, 2])
    assert response.status_code == 400
    assert error(response)["code"] == "invalid_field"


def test_an_unknown_field_is_named(api, people):
    response = api.post("orders", _order(coupon="FREE"))
    assert response.status_code == 400
    assert error(response) == {"code": "unknown_field", "message": "Unknown field 'coupon'.", "field": "coupon"}


def test_an_unknown_field_in_a_line_is_named_with_its_path(api, people):
    response = api.post(
        "orders", _order(lines=[{"creator": "c-1", "transaction_type": "tip", "amount": "1", "colour": "red"}])
    )
    assert error(response)["field"] == "lines[0].colour"


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("1e30", "max_digits"),
        ("123456789012345678901234567890", "max_digits"),
        ("10.001", "max_decimal_places"),
        ("abc", "invalid"),
        ("NaN", "invalid"),
        ("Infinity", "invalid"),
        ("-5.00", "min_value"),
        ("0", "min_value"),
        (None, "null"),
    ],
)
def test_a_bad_amount_is_a_400_naming_the_line(api, people, amount, code):
    response = api.post("orders", _order(lines=[{"creator": "c-1", "transaction_type": "tip", "amount": amount}]))
    assert response.status_code == 400, response.content
    detail = error(response)
    assert detail["field"] == "lines[0].amount"
    assert detail["code"] in (code, "invalid_field")
    assert not Order.objects.exists()


def test_a_missing_field_is_a_400(api, people):
    response = api.post("orders", {"lines": []})
    assert response.status_code == 400
    assert error(response)["field"] == "buyer"


def test_an_unknown_transaction_type_is_a_400(api, people):
    response = api.post("orders", _order(lines=[{"creator": "c-1", "transaction_type": "bribe", "amount": "1"}]))
    assert error(response)["field"] == "lines[0].transaction_type"


def test_a_huge_id_in_the_path_is_a_404(api, people):
    response = api.get("orders/99999999999999999999999999")
    assert response.status_code == 404
    assert error(response)["code"] == "not_found"


def test_a_wrong_method_is_a_405(api, people):
    response = api.client.delete("/api/v1/orders", headers={"Authorization": f"Api-Key {api.key}"})
    assert response.status_code == 405
    assert error(response)["code"] == "method_not_allowed"


def test_a_form_body_is_a_415(api, people):
    response = api.client.post(
        "/api/v1/orders", {"buyer": "u-1"}, headers={"Authorization": f"Api-Key {api.key}", "Idempotency-Key": "k"}
    )
    assert response.status_code == 415
    assert error(response)["code"] == "unsupported_media_type"


def test_an_address_under_the_api_that_matches_nothing_is_a_json_404(api, people):
    for path in ("orders/not-a-number", "orders/1/refund-everything", "people/a/b/c"):
        response = api.get(path)
        assert response.status_code == 404
        assert error(response)["code"] == "not_found"


def test_a_person_id_too_long_or_odd_is_refused(api):
    response = api.put("people/" + "x" * 65, {"name": "X"})
    assert (response.status_code, error(response)["field"]) == (400, "external_id")
