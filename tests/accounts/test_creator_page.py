"""The creator's page staff use: contact, masked methods, money; no password hash or permission boxes."""

import pytest
from django.urls import reverse

from tests.staff import paid_payout, staff

pytestmark = pytest.mark.django_db


def creator_page(client, creator) -> str:
    response = client.get(reverse("admin:accounts_user_change", args=[creator.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_finance_sees_a_creators_money_and_no_password_or_permissions(finance):
    payout = paid_payout()
    creator = payout.creator
    page = creator_page(finance, creator)
    for absent in ("pbkdf2", "md5$", 'name="user_permissions"', 'name="groups"', "Reset password"):
        assert absent not in page, absent
    assert creator.payout_methods.get().account_number not in page  # masked
    assert "****" in page
    assert "TZS 46,000.00" in page and payout.reference in page  # the payout, one money format
    assert "8 %" in page  # the fee row's rate
    assert f"creator={creator.pk}&amp;month=" in page and "format=csv" in page  # the month's statement
    assert "available TZS" in page


def test_support_sees_no_reset_password_button_on_a_staff_page(support):
    colleague = staff("Finance", username="frank")
    assert "Reset password" not in creator_page(support, colleague)
