"""core.admin_filters through real changelists: date ranges in Tanzanian days, yes/no, autocomplete."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from revenue.services import payout_reconcile
from tests.factories import PayoutFactory
from tests.staff import messages_of, paid_payout

PAYOUTS = reverse("admin:revenue_payout_changelist")
DAR = ZoneInfo("Africa/Dar_es_Salaam")
pytestmark = pytest.mark.django_db


def listed(response) -> set[str]:
    assert response.status_code == 200
    return {p.reference for p in response.context["cl"].result_list}


def requested_at(*moment: int):
    """A payout requested at a local (Dar es Salaam) time."""
    with time_machine.travel(datetime(*moment, tzinfo=DAR)):
        return PayoutFactory().reference


@pytest.fixture
def march():
    """Payouts either side of both ends of 10-12 March 2026, Dar es Salaam time.

    "after" is 21:05 UTC on the 12th: a filter on UTC dates would wrongly include it.
    """
    return {
        "before": requested_at(2026, 3, 9, 23, 55),
        "first": requested_at(2026, 3, 10, 0, 5),
        "last": requested_at(2026, 3, 12, 23, 55),
        "after": requested_at(2026, 3, 13, 0, 5),
    }


def filter_form(page: str, field: str) -> str:
    """The filter form (sidebar) that holds the input named ``field``."""
    forms = re.findall(r'<form method="get" class="filter-form">.*?</form>', page, flags=re.S)
    (form,) = [f for f in forms if f'name="{field}"' in f and f'type="hidden" name="{field}"' not in f]
    return form


def date_range(start: str = "", end: str = "", field: str = "created_at", **other) -> dict[str, str]:
    params = dict(other)
    if start:
        params[f"{field}__date__gte"] = start
    if end:
        params[f"{field}__date__lte"] = end
    return params


def test_a_range_includes_both_end_days_in_tanzanian_time(finance, march):
    response = finance.get(PAYOUTS, date_range("2026-03-10", "2026-03-12"))
    assert listed(response) == {march["first"], march["last"]}


def test_a_range_of_one_day_is_that_whole_local_day(finance, march):
    assert listed(finance.get(PAYOUTS, date_range("2026-03-13", "2026-03-13"))) == {march["after"]}
    assert listed(finance.get(PAYOUTS, date_range("2026-03-09", "2026-03-09"))) == {march["before"]}


def test_a_start_alone_has_no_end(finance, march):
    assert listed(finance.get(PAYOUTS, date_range(start="2026-03-10"))) == {
        march["first"],
        march["last"],
        march["after"],
    }


def test_an_end_alone_has_no_start(finance, march):
    assert listed(finance.get(PAYOUTS, date_range(end="2026-03-12"))) == {
        march["before"],
        march["first"],
        march["last"],
    }


def test_a_repeated_parameter_counts_its_last_value(finance, march):
    response = finance.get(f"{PAYOUTS}?created_at__date__gte=2026-03-01&created_at__date__gte=2026-03-13")
    assert listed(response) == {march["after"]}


def test_the_chosen_dates_are_shown_in_the_filter_form(finance, march):
    page = finance.get(PAYOUTS, date_range("2026-03-10", "2026-03-12")).content.decode()
    assert '<input type="date" name="created_at__date__gte" value="2026-03-10">' in page
    assert '<input type="date" name="created_at__date__lte" value="2026-03-12">' in page


def test_a_range_combines_with_another_date_range_and_a_status(finance):
    with time_machine.travel(datetime(2026, 3, 10, 9, 0, tzinfo=DAR)):
        paid = paid_payout()
        PayoutFactory()  # same day, never paid: out on both filters
    with time_machine.travel(datetime(2026, 3, 20, 9, 0, tzinfo=DAR)):
        later = paid_payout()
    both_ranges = {**date_range("2026-03-10", "2026-03-10"), **date_range("2026-03-01", "2026-03-31", field="paid_at")}
    assert listed(finance.get(PAYOUTS, both_ranges)) == {paid.reference}
    by_status = date_range("2026-03-10", status__exact="PAID")
    assert listed(finance.get(PAYOUTS, by_status)) == {paid.reference, later.reference}


def test_the_form_keeps_the_other_parameters_as_hidden_inputs(finance, march):
    page = finance.get(
        PAYOUTS, date_range("2026-03-10", "2026-03-12", status__exact="PENDING", q="BLN", reconciled="no")
    ).content.decode()
    form = filter_form(page, "created_at__date__gte")
    assert '<input type="hidden" name="status__exact" value="PENDING">' in form
    assert '<input type="hidden" name="q" value="BLN">' in form
    assert '<input type="hidden" name="reconciled" value="no">' in form
    assert 'type="hidden" name="created_at__date' not in form


def test_the_other_date_filter_keeps_this_ones_range(finance, march):
    page = finance.get(PAYOUTS, date_range("2026-03-10", "2026-03-12")).content.decode()
    form = filter_form(page, "paid_at__date__gte")
    assert '<input type="hidden" name="created_at__date__gte" value="2026-03-10">' in form
    assert '<input type="hidden" name="created_at__date__lte" value="2026-03-12">' in form


def test_clear_drops_the_range_and_keeps_the_rest(finance, march):
    response = finance.get(PAYOUTS, date_range("2026-03-10", "2026-03-12", status__exact="PENDING"))
    page = response.content.decode()
    assert '<a href="?status__exact=PENDING">Clear</a>' in page


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(date_range("2026-03-12", "2026-03-10"), id="start after end"),
        pytest.param(date_range("yesterday"), id="garbage start"),
        pytest.param(date_range(end="2026-02-30"), id="impossible end"),
    ],
)
def test_a_range_it_cannot_use_leads_back_to_the_list_not_to_an_error_page(finance, march, params):
    response = finance.get(PAYOUTS, params)
    assert response.status_code == 302
    assert response["Location"] == f"{PAYOUTS}?e=1"
    assert listed(finance.get(response["Location"])) == set(march.values())


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        pytest.param(date_range("2026-03-12", "2026-03-10"), "The start date is after the end date.", id="reversed"),
        pytest.param(date_range("yesterday"), "Enter a valid date.", id="garbage"),
    ],
)
def test_a_range_it_cannot_use_is_explained_to_the_user(finance, params, reason):
    response = finance.get(PAYOUTS, params, follow=True)
    assert response.status_code == 200
    assert reason in " ".join(messages_of(response)) + response.content.decode()


# ReconciledFilter (IsSetFilter)


@pytest.fixture
def reconciled_or_not(finance_user):
    reconciled, unreconciled, pending = paid_payout(), paid_payout(), PayoutFactory()
    payout_reconcile(reconciled, by=finance_user)
    return reconciled.reference, unreconciled.reference, pending.reference


def test_reconciled_yes_lists_the_payouts_with_a_reconciliation_time(finance, reconciled_or_not):
    reconciled, _, _ = reconciled_or_not
    assert listed(finance.get(PAYOUTS, {"reconciled": "yes"})) == {reconciled}


def test_reconciled_no_lists_the_others(finance, reconciled_or_not):
    _, unreconciled, pending = reconciled_or_not
    assert listed(finance.get(PAYOUTS, {"reconciled": "no"})) == {unreconciled, pending}


def test_an_unknown_reconciled_value_filters_nothing_out(finance, reconciled_or_not):
    assert listed(finance.get(PAYOUTS, {"reconciled": "maybe"})) == set(reconciled_or_not)


# AutocompleteFilter


def test_the_creator_filter_lists_only_that_creators_payouts(finance):
    mine, other = PayoutFactory(), PayoutFactory()
    assert listed(finance.get(PAYOUTS, {"creator__id__exact": mine.creator_id})) == {mine.reference}
    assert other.reference != mine.reference


def test_a_creator_nobody_is_lists_nothing(finance):
    PayoutFactory()
    assert listed(finance.get(PAYOUTS, {"creator__id__exact": "987654321"})) == set()


def test_a_creator_id_that_is_not_a_number_leads_back_to_the_list(finance):
    PayoutFactory()
    response = finance.get(PAYOUTS, {"creator__id__exact": "fiona"})
    assert (response.status_code, response["Location"]) == (302, f"{PAYOUTS}?e=1")


def test_the_creator_form_keeps_the_other_parameters(finance):
    payout = PayoutFactory()
    page = finance.get(PAYOUTS, {"creator__id__exact": payout.creator_id, "status__exact": "PENDING"}).content.decode()
    form = filter_form(page, "creator__id__exact")
    assert '<input type="hidden" name="status__exact" value="PENDING">' in form
    assert 'type="hidden" name="creator__id__exact"' not in form
    assert '<a href="?status__exact=PENDING">Clear</a>' in page


def test_the_list_page_loads_the_autocomplete_scripts(finance):
    page = finance.get(PAYOUTS).content.decode()
    assert "admin/js/autocomplete.js" in page
    assert "select2" in page


@pytest.mark.parametrize(
    ("start", "end"), [("0001-01-01", "9999-12-31"), ("9999-12-31", "9999-12-31"), ("0001-01-01", "0001-01-01")]
)
def test_dates_at_the_edges_of_the_calendar_filter_without_a_500(support, march, start, end):
    """9999-12-31 plus a day overflowed; 0001-01-01 at midnight in Dar es Salaam is before year 1 in UTC."""
    response = support.get(PAYOUTS, date_range(start, end))
    assert response.status_code == 200
    if (start, end) == ("0001-01-01", "9999-12-31"):
        assert listed(response) == set(march.values())
