"""Every admin changelist (and the ledger page), as each staff role, with generated query parameters: no 5xx.

The parameters are the ones each changelist understands (every filter's own names, search,
ordering, page, facets) plus stray ones, with values a person or a crafted link may bring:
calendar edges, impossible dates, huge and negative numbers, exponents, NUL, any text. Each
parameter is first swept with the worst of those values, one at a time (a random draw would
rarely pair a date filter with 9999-12-31), then hypothesis combines them for every role.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import PaymentFactory, capture
from tests.fuzz.conftest import fuzz_settings
from tests.staff import AdminClient, paid_payout, returned_payout, staff

pytestmark = pytest.mark.django_db

ROLES = ("superuser", "Finance", "Support")
SWEPT = ["q", "o", "p", "page"]
"""Besides the filters' own parameters: search, ordering and the page number (the ledger page's "page")."""
STRAY = ["e", "all", "_facets", "_to_field", "_popup", "action", "id__exact"]
LEDGER = reverse("admin:revenue_ledger")
NASTY = [
    "",
    "0",
    "-1",
    "1e20",
    "99999999999999999999999",
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "2026-13-01",
    "1.-2.3",
    "-0",
    "99.-99",
    "True",
    "None",
    "null",
    "ABC",
    "TZSX",
    "\x00",
    "%",
    "' OR 1=1 --",
    "2557" + "0" * 40,
    "x" * 300,
]
WORST = [
    "9999-12-31",
    "0001-01-01",
    "2026-02-30",
    "1e20",
    "99999999999999999999999",
    "-1",
    "\x00",
    "x" * 300,
    "1.-2.99",
]
VALUES = st.one_of(st.sampled_from(NASTY), st.text(max_size=20), st.integers().map(str))


def _changelists() -> list[tuple[str, admin.ModelAdmin]]:
    found = [
        (reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist"), model_admin)
        for model, model_admin in admin.site._registry.items()
    ]
    return sorted(found, key=lambda pair: pair[0])


def _parameters(model_admin: admin.ModelAdmin | None, user) -> list[str]:
    """What a changelist reads from its query: each filter's expected parameters, search, ordering, page."""
    if model_admin is None:
        return SWEPT
    request = RequestFactory().get("/")
    request.user = user
    changelist = model_admin.get_changelist_instance(request)
    names = [name for spec in changelist.filter_specs for name in spec.expected_parameters() if name]
    return names + SWEPT


PAGES = [(url, model_admin) for url, model_admin in _changelists()] + [(LEDGER, None)]


@pytest.fixture
def rows():
    """A few rows of each kind, so that filters, sorting and pages have something to work on."""
    paid_payout()
    returned_payout()
    capture(PaymentFactory())


@pytest.mark.parametrize(("url", "model_admin"), PAGES, ids=[url for url, _ in PAGES])
def test_no_query_makes_a_changelist_answer_5xx(rows, url, model_admin):
    """Each parameter with each of the worst values as a superuser (the others' filters are a subset),
    then hypothesis's combinations as every role."""
    root = staff(None, is_superuser=True, username="inspector")
    names = _parameters(model_admin, root)
    browser = AdminClient(root)
    for name in names:
        for value in WORST:
            response = browser.get(url, {name: value})
            assert response.status_code < 500, (url, name, value, response.content[:300])

    known = names + STRAY
    keys = st.one_of(st.sampled_from(known), st.sampled_from(known).map(lambda n: n + "__gte"), st.text(max_size=8))
    browsers = {
        "superuser": browser,
        "Finance": AdminClient(staff("Finance")),
        "Support": AdminClient(staff("Support")),
    }

    @fuzz_settings(12)
    @given(st.sampled_from(ROLES), st.dictionaries(keys, VALUES, min_size=1, max_size=4))
    def check(role: str, query: dict[str, str]) -> None:
        response = browsers[role].get(url, query)
        assert response.status_code < 500, (url, role, query, response.content[:300])

    check()
