"""PUT /api/v1/people/{id}: a buyer or creator by the storefront's id, the phone in any form."""

import pytest

from accounts.models import User
from revenue.models import LedgerAccount
from tests.api.conftest import error


def test_it_creates_a_person_with_the_phone_in_clickpesas_form(api):
    response = api.put(
        "people/u-42",
        {"name": "Neema  Kweka", "email": "neema@example.com", "phone": "+255 754-123-456", "language": "sw"},
    )
    assert response.status_code == 201
    assert response.json() == {
        "id": "u-42",
        "name": "Neema Kweka",
        "email": "neema@example.com",
        "phone": "255754123456",
        "language": "sw",
        "is_creator": False,
    }
    person = User.objects.get(external_id="u-42")
    assert not person.has_usable_password()
    assert not LedgerAccount.objects.filter(creator=person).exists()


def test_it_updates_the_same_person(api):
    api.put("people/u-42", {"name": "Neema", "phone": "0754123456"})
    response = api.put("people/u-42", {"name": "Neema Kweka", "phone": "0688 123 456", "is_creator": True})
    assert response.status_code == 200
    assert response.json()["phone"] == "255688123456"
    assert User.objects.filter(external_id="u-42").count() == 1


def test_a_creator_gets_ledger_accounts(api):
    api.put("people/c-9", {"name": "Zawadi", "is_creator": True})
    kinds = set(LedgerAccount.objects.filter(creator__external_id="c-9").values_list("kind", flat=True))
    assert kinds == set(LedgerAccount.CREATOR_KINDS)


@pytest.mark.parametrize("phone", ["0222 123 456", "12345", "+254712345678"])
def test_a_phone_that_is_no_tanzanian_mobile_is_refused(api, phone):
    response = api.put("people/u-1", {"name": "X", "phone": phone})
    assert response.status_code == 400
    assert error(response)["code"] == "invalid_phone_number"
    assert error(response)["field"] == "phone"
    assert not User.objects.filter(external_id="u-1").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [({"email": "not-an-email"}, "email"), ({"language": "fr"}, "language"), ({"is_creator": "maybe"}, "is_creator")],
)
def test_bad_fields_are_refused(api, body, field):
    response = api.put("people/u-1", body)
    assert response.status_code == 400
    assert error(response)["field"] == field


def test_get_shows_the_person(api, people):
    assert api.get("people/c-1").json()["is_creator"] is True
    assert api.get("people/nobody").status_code == 404
