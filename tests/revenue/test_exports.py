"""CSV and XLSX exports of the filtered payouts, fees and ledger entries, with formula escaping."""

import csv
import io

import openpyxl
import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone

from revenue.admin.exports import LedgerEntryResource, PayoutResource, PlatformFeeResource
from tests.factories import CreatorFactory, PayoutFactory
from tests.staff import paid_payout

CSV, XLSX = "0", "1"


def export(client, url_name, resource, file_format=CSV, query="", **extra):
    prefix = resource.__name__.lower()
    fields = {f"{prefix}_{name}": "on" for name in resource().get_export_order()}
    url = reverse(url_name) + query
    return client.post(url, {"format": file_format, "resource": "0", **fields, **extra})


def csv_rows(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


@pytest.mark.django_db
def test_finance_exports_the_filtered_payouts_as_csv(finance):
    paid, pending = paid_payout(), PayoutFactory()
    response = export(finance, "admin:revenue_payout_export", PayoutResource, query="?status__exact=PAID")
    rows = csv_rows(response)
    assert [r["reference"] for r in rows] == [paid.reference]
    assert rows[0]["amount"] == "46000.00" and rows[0]["gateway_fee"] == "1180.00"
    assert rows[0]["status"] == "Paid"
    assert rows[0]["requested_at"].endswith(" EAT")
    assert pending.reference not in response.content.decode()


@pytest.mark.django_db
def test_finance_exports_payouts_as_xlsx(finance):
    paid = paid_payout()
    response = export(finance, "admin:revenue_payout_export", PayoutResource, XLSX)
    assert response["Content-Disposition"].endswith('.xlsx"')
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header, *rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert header[:3] == ["reference", "creator", "creator_phone"]
    assert [row[0] for row in rows] == [paid.reference]


@pytest.mark.django_db
def test_xlsx_cells_are_typed_amounts_numbers_and_moments_dates(finance):
    """A spreadsheet can SUM the amounts and sort by date: no number or date is exported as text."""
    paid = paid_payout()
    response = export(finance, "admin:revenue_payout_export", PayoutResource, XLSX)
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header, row = [list(r) for r in sheet.iter_rows()]
    cells = {h.value: c for h, c in zip(header, row, strict=True)}
    assert cells["amount"].data_type == "n" and cells["amount"].value == 46000
    assert cells["gateway_fee"].data_type == "n" and cells["gateway_fee"].value == 1180
    assert cells["requested_at"].is_date and cells["paid_at"].is_date
    local_paid_at = timezone.localtime(paid.paid_at).replace(tzinfo=None)
    assert abs(cells["paid_at"].value - local_paid_at).total_seconds() < 1  # a spreadsheet keeps whole seconds
    assert cells["status"].value == "Paid" and cells["method_kind"].value == "Mobile wallet"


@pytest.mark.django_db
def test_fee_rows_export_rates_and_amounts_as_numbers(finance):
    paid_payout()
    response = export(finance, "admin:revenue_platformfee_export", PlatformFeeResource, XLSX)
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    header, *rows = [list(r) for r in sheet.iter_rows()]
    assert rows
    for row in rows:
        cells = {h.value: c for h, c in zip(header, row, strict=True)}
        for name in ("subtotal", "rate", "platform_fee", "creator_amount"):
            assert cells[name].data_type == "n", name
        assert cells["created_at"].is_date


@pytest.mark.django_db
def test_a_formula_in_a_name_is_exported_as_text(finance):
    creator = CreatorFactory(first_name='=HYPERLINK("http://evil.example","x")', last_name="@SUM(1+1)")
    paid_payout(creator=creator)
    rows = csv_rows(export(finance, "admin:revenue_payout_export", PayoutResource))
    assert rows[0]["creator"].startswith("'=HYPERLINK(")


@pytest.mark.django_db
@pytest.mark.parametrize("dangerous", ["+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1"])
def test_every_formula_lead_character_is_neutralised_in_xlsx(finance, dangerous):
    paid_payout(creator=CreatorFactory(first_name=dangerous))
    response = export(finance, "admin:revenue_payout_export", PayoutResource, XLSX)
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    creator_cell = sheet.cell(row=2, column=2).value
    assert creator_cell.startswith("'")


@pytest.mark.django_db
def test_the_export_action_exports_only_the_selected_payouts(finance):
    chosen, _ = paid_payout(), paid_payout()
    form = finance.action(reverse("admin:revenue_payout_changelist"), "export_admin_action", [chosen])
    assert form.status_code == 200 and 'name="export_items"' in form.content.decode()
    response = export(finance, "admin:revenue_payout_export", PayoutResource, export_items=[str(chosen.pk)])
    assert [r["reference"] for r in csv_rows(response)] == [chosen.reference]


@pytest.mark.django_db
def test_finance_exports_the_filtered_fee_rows(finance):
    paid = paid_payout()
    rows = csv_rows(
        export(finance, "admin:revenue_platformfee_export", PlatformFeeResource, query="?payout_status__exact=PAID")
    )
    assert [(r["payout"], r["platform_fee"], r["creator_amount"]) for r in rows] == [
        (paid.reference, "4000.00", "46000.00")
    ]


@pytest.mark.django_db
def test_finance_exports_ledger_entries_of_one_kind(finance):
    paid = paid_payout()
    rows = csv_rows(
        export(
            finance,
            "admin:revenue_ledgerentry_export",
            LedgerEntryResource,
            query="?transaction__kind__exact=PAYOUT_SETTLE",
        )
    )
    assert {r["transaction_kind"] for r in rows} == {"Payout settle"}
    assert {(r["account_kind"], r["direction"], r["amount"]) for r in rows} >= {
        ("Creator payout in flight", "Debit", "46000.00"),
        ("ClickPesa payout fees (expense)", "Debit", "1180.00"),
    }
    assert all(r["idempotency_key"].startswith(f"payout:{paid.pk}:") for r in rows)


@pytest.mark.django_db
def test_support_sees_no_export_button(support):
    paid_payout()
    page = support.get(reverse("admin:revenue_payout_changelist")).content.decode()
    assert reverse("admin:revenue_payout_export") not in page
    assert "export_admin_action" not in page


@pytest.mark.django_db
def test_each_export_is_written_to_the_admin_log(finance, finance_user):
    paid_payout()
    export(finance, "admin:revenue_payout_export", PayoutResource, query="?status__exact=PAID")
    entry = LogEntry.objects.get(content_type__model="payout")
    assert entry.user == finance_user
    assert entry.change_message == "Exported 1 payouts as CSV; filters: status__exact=PAID"
