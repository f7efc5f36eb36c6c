"""A creator's monthly statement through the API: JSON, or the PDF and CSV the creator is emailed."""

from decimal import Decimal

import time_machine

from accounts.models import User
from tests.api.conftest import error
from tests.factories import earn


def _sale_in_march() -> None:
    with time_machine.travel("2026-03-10 12:00 +0300", tick=False):
        earn(User.objects.get(external_id="c-1"), Decimal("10000.00"))


def test_the_statement_as_json_adds_up(api, people):
    _sale_in_march()
    body = api.get("creators/c-1/statements/2026-03").json()
    assert (body["creator"], body["period"], body["currency"]) == ("c-1", "2026-03", "TZS")
    assert (body["opening_balance"], body["closing_balance"]) == ("0.00", "9200.00")
    [sale] = body["lines"]
    assert (sale["type"], sale["sale"], sale["platform_fee"], sale["amount"]) == (
        "sale",
        "10000.00",
        "800.00",
        "9200.00",
    )


def test_the_pdf_and_csv_by_accept_or_format(api, people):
    _sale_in_march()
    pdf = api.get("creators/c-1/statements/2026-03", Accept="application/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    csv = api.get("creators/c-1/statements/2026-03", {"format": "csv"})
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert csv["Content-Disposition"].endswith('-2026-03.csv"')
    assert csv.content.decode("utf-8-sig").splitlines()[-1].endswith(",9200.00")


def test_bad_months_and_strangers_are_clear_4xx(api, people):
    for period in ("2026-13", "26-03", "1999-12", "2026-03x"):
        response = api.get(f"creators/c-1/statements/{period}")
        assert response.status_code == 400 and error(response)["field"] == "period"
    assert api.get("creators/ghost/statements/2026-03").status_code == 404
    assert api.get("creators/c-1/statements/2026-03", {"currency": "EUR"}).status_code == 400
    assert api.get("creators/c-1/statements/2026-03", Accept="image/png").status_code == 406
    # A refusal is JSON in the error shape even when a file was asked for.
    for accept in ("text/csv", "application/pdf"):
        response = api.get("creators/ghost/statements/2026-03", Accept=accept)
        assert (response.status_code, response["Content-Type"]) == (404, "application/json")
        assert error(response)["code"] == "not_found"
