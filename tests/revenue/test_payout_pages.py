"""What finance and support see on the payouts list and on one payout's page."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from tests.factories import PayoutFactory
from tests.staff import paid_payout, returned_payout
from tests.webhooks import post_webhook, sample_body, use_checksum_key

PAYOUTS = reverse("admin:revenue_payout_changelist")
DAR = ZoneInfo("Africa/Dar_es_Salaam")


def listed(response) -> set[str]:
    return {str(p.reference) for p in response.context["cl"].result_list}


@pytest.mark.django_db
def test_the_list_shows_amount_fee_status_method_paid_date_and_reconciled(finance):
    payout = paid_payout()
    page = finance.get(PAYOUTS).content.decode()
    for text in (
        payout.reference,
        "TZS 46,000.00",
        "TZS 1,180.00",
        "PAID",
        f"Mobile wallet · {payout.destination_label}",
    ):
        assert text in page
    assert 'alt="False"' in page  # not reconciled yet


@pytest.mark.django_db
def test_finance_filters_by_status_and_reconciled(finance):
    paid, pending = paid_payout(), PayoutFactory()
    assert listed(finance.get(PAYOUTS, {"status__exact": "PAID", "reconciled": "no"})) == {paid.reference}
    assert listed(finance.get(PAYOUTS, {"status__exact": "PENDING"})) == {pending.reference}
    assert listed(finance.get(PAYOUTS, {"reconciled": "yes"})) == set()


@pytest.mark.django_db
def test_finance_filters_by_paid_date_range_in_tanzanian_days(finance):
    with time_machine.travel(datetime(2026, 3, 10, 23, 30, tzinfo=DAR)):
        early = paid_payout()
    paid_payout()
    response = finance.get(PAYOUTS, {"paid_at__date__gte": "2026-03-10", "paid_at__date__lte": "2026-03-10"})
    assert listed(response) == {early.reference}


@pytest.mark.django_db
def test_finance_filters_by_requested_date_range(finance):
    with time_machine.travel(datetime(2026, 2, 1, 9, 0, tzinfo=DAR)):
        old = PayoutFactory()
    PayoutFactory()
    assert listed(finance.get(PAYOUTS, {"created_at__date__lte": "2026-02-28"})) == {old.reference}


@pytest.mark.django_db
def test_an_unreadable_date_is_refused_not_crashed(finance):
    response = finance.get(PAYOUTS, {"paid_at__date__gte": "10/03/2026x"})
    assert response.status_code == 302
    assert "?e=1" in response["Location"]


@pytest.mark.django_db
def test_finance_filters_by_creator_and_sees_who_is_selected(finance):
    mine, other = PayoutFactory(), PayoutFactory()
    response = finance.get(PAYOUTS, {"creator__id__exact": mine.creator_id})
    assert listed(response) == {mine.reference}
    assert other.reference not in response.content.decode()
    assert f'<option value="{mine.creator_id}" selected>{mine.creator}</option>' in response.content.decode()


@pytest.mark.django_db
def test_finance_filters_by_method_kind(finance):
    payout = PayoutFactory()
    assert listed(finance.get(PAYOUTS, {"method_kind__exact": "MOBILE_WALLET"})) == {payout.reference}
    assert listed(finance.get(PAYOUTS, {"method_kind__exact": "BANK_ACCOUNT"})) == set()


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["reference", "gateway_id", "phone", "name"])
def test_search_finds_a_payout_by_reference_clickpesa_id_or_creator(finance, field):
    payout, other = paid_payout(), paid_payout()
    term = {
        "reference": payout.reference,
        "gateway_id": payout.gateway_id,
        "phone": payout.creator.phone_number,
        "name": f"{payout.creator.first_name} {payout.creator.last_name}",
    }[field]
    assert listed(finance.get(PAYOUTS, {"q": term})) == {payout.reference} != {other.reference}


@pytest.mark.django_db
def test_the_creator_autocomplete_answers_finance(finance):
    payout = PayoutFactory()
    response = finance.get(
        reverse("admin:autocomplete"),
        {"app_label": "revenue", "model_name": "payout", "field_name": "creator", "term": payout.creator.username},
    )
    assert response.json()["results"] == [{"id": str(payout.creator_id), "text": str(payout.creator)}]


@pytest.mark.django_db
def test_the_payout_page_shows_history_events_ledger_and_fee_rows(finance, client, settings):
    payout = paid_payout()
    use_checksum_key(settings)
    body = sample_body(
        "payout_initiated_success", reference=payout.reference, amount=payout.amount + Decimal("1180"), fee="1180.00"
    )
    post_webhook(client, body, endpoint="payouts")
    page = finance.get(reverse("admin:revenue_payout_change", args=[payout.pk])).content.decode()
    history = page[page.index('id="payout-history"') : page.index('id="related-events"')]
    assert "Pending" in history and "Paid" in history
    events = page[page.index('id="related-events"') : page.index('id="related-ledger"')]
    assert "PAYOUT INITIATED" in events and "SUCCESS" in events
    ledger = page[page.index('id="related-ledger"') : page.index('id="payout-fees"')]
    assert "Payout reserve" in ledger and "Payout settle" in ledger
    assert "TZS 46,000.00" in ledger and "TZS 1,180.00" in ledger
    fees = page[page.index('id="payout-fees"') :]
    assert f"#{payout.fee_rows.get().order_id}" in fees


@pytest.mark.django_db
def test_support_sees_the_history_but_not_the_journal_or_fees(support):
    payout = returned_payout()
    page = support.get(reverse("admin:revenue_payout_change", args=[payout.pk])).content.decode()
    assert 'id="payout-history"' in page and "FAILED" in page
    assert 'id="related-ledger"' not in page
    assert 'id="payout-fees"' not in page


@pytest.mark.django_db
def test_the_payout_page_offers_reconcile_to_finance_only_when_final(finance):
    paid, pending = paid_payout(), PayoutFactory()
    button = 'value="mark_reconciled"'
    assert button in finance.get(reverse("admin:revenue_payout_change", args=[paid.pk])).content.decode()
    assert button not in finance.get(reverse("admin:revenue_payout_change", args=[pending.pk])).content.decode()


@pytest.mark.django_db
def test_the_payout_page_reconcile_button_works(finance):
    payout = paid_payout()
    finance.post(PAYOUTS, {"action": "mark_reconciled", "_selected_action": str(payout.pk), "index": "0"})
    payout.refresh_from_db()
    assert payout.reconciled_at is not None


@pytest.mark.django_db
def test_the_list_with_filter_counts_shown_still_renders(finance):
    paid_payout()
    response = finance.get(PAYOUTS, {"_facets": "True", "status__exact": "PAID", "paid_at__date__gte": "2020-01-01"})
    assert response.status_code == 200
    assert "Paid (1)" in response.content.decode()
