"""A NUL in a URL's path or query (a search term, a filter) is refused 400 instead of failing in PostgreSQL:
in plain text for people's pages, in JSON under /api/ (the storefront API, ClickPesa's webhooks)."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        reverse("admin:revenue_ledger") + "?q=ab%00c",
        reverse("admin:revenue_payout_changelist") + "?q=%00",
        reverse("admin:accounts_user_changelist") + "?q=2557%00",
        reverse("admin:clickpesa_webhookevent_changelist") + "?status%00=x",
        "/healthz?x=%00",
    ],
)
def test_a_nul_in_the_query_is_a_400(root, url):
    response = root.get(url)
    assert response.status_code == 400
    assert b"NUL" in response.content


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/creators/0/entries?currency=TZS&cursor=%00", "cursor"),
        ("/api/v1/creators/0/balance?a%00b=1", "a\ufffdb"),
        ("/api/v1/orders/%00", "path"),
        ("/api/payments/webhook?x=%00", "x"),
    ],
)
def test_under_api_the_refusal_is_json_naming_where_the_nul_is(client, url, field):
    response = client.get(url)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {"code": "nul_in_url", "message": "A NUL character is not allowed in a URL.", "field": field}
    }


def test_the_ledger_search_still_finds_creators(finance, finance_user):
    response = finance.get(reverse("admin:revenue_ledger"), {"q": "nobody-by-this-name"})
    assert response.status_code == 200
