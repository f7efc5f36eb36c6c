"""Account numbers are masked on every staff page; Finance opens the full number on demand, and each look is logged."""

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from tests.factories import PayoutFactory
from tests.staff import paid_payout
from tests.webhooks import post_webhook, sample_body, use_checksum_key

pytestmark = pytest.mark.django_db

PAYOUTS = reverse("admin:revenue_payout_changelist")


def number_of(payout) -> str:
    return payout.method_snapshot["account_number"]


def reveal_url(payout) -> str:
    return reverse("admin:revenue_payout_account_number", args=[payout.pk])


@pytest.mark.parametrize("role", ["finance", "support", "root"])
def test_the_payout_page_and_list_show_only_the_last_four_digits(request, role):
    browser = request.getfixturevalue(role)
    payout = paid_payout()
    number = number_of(payout)

    page = browser.get(reverse("admin:revenue_payout_change", args=[payout.pk])).content.decode()
    listing = browser.get(PAYOUTS).content.decode()
    methods = browser.get(reverse("admin:revenue_payoutmethod_changelist")).content.decode()

    assert f"****{number[-4:]}" in page
    for shown in (page, listing, methods):
        assert number not in shown
    assert payout.method_snapshot["account_name"] in page


def test_the_webhook_event_page_masks_the_beneficiarys_number(root, settings):
    use_checksum_key(settings)
    payout = PayoutFactory()
    number = number_of(payout)
    body = sample_body(
        "payout_initiated_processing",
        reference=payout.reference,
        amount=payout.amount,
        beneficiary={"accountNumber": number, "accountName": "X", "beneficiaryMobileNumber": number},
    )
    event_id = post_webhook(root.client, body, endpoint="payouts").json()["event"]

    page = root.get(reverse("admin:clickpesa_webhookevent_change", args=[event_id])).content.decode()

    assert number not in page
    assert f"****{number[-4:]}" in page


def test_finance_opens_the_full_number_and_the_look_is_logged(finance, finance_user):
    payout = paid_payout()
    page = finance.get(reverse("admin:revenue_payout_change", args=[payout.pk])).content.decode()
    assert reveal_url(payout) in page

    response = finance.post(reveal_url(payout))

    assert response.status_code == 200
    assert number_of(payout) in response.content.decode()
    entry = LogEntry.objects.get(object_id=str(payout.pk), change_message="Viewed the full account number")
    assert entry.user_id == finance_user.pk


def test_support_is_not_offered_the_full_number_and_is_refused_it(support):
    payout = paid_payout()
    page = support.get(reverse("admin:revenue_payout_change", args=[payout.pk])).content.decode()
    assert reveal_url(payout) not in page

    response = support.post(reveal_url(payout))

    assert response.status_code == 403
    assert number_of(payout) not in response.content.decode()
    assert not LogEntry.objects.filter(change_message="Viewed the full account number").exists()


def test_the_full_number_is_never_served_on_a_get(finance):
    payout = paid_payout()
    response = finance.get(reveal_url(payout))
    assert response.status_code == 405
    assert not LogEntry.objects.filter(change_message="Viewed the full account number").exists()
