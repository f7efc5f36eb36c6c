"""Statement reconciliation: a ClickPesa statement CSV (or API answer) against our records."""

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from string import Template
from zoneinfo import ZoneInfo

import pytest
import responses
import time_machine
from django.contrib.admin.models import ADDITION, LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from backoffice.models import StatementImport, StatementLine
from backoffice.reconciliation import StatementError, statement_import_csv, statement_rows_from_csv
from core.money import format_money
from payments.models import Payment
from revenue.services import deposit_record
from tests.factories import CreatorFactory, PaymentFactory, capture, earn
from tests.staff import messages_of, paid_payout

Outcome = StatementLine.Outcome
DAR = ZoneInfo("Africa/Dar_es_Salaam")
TEMPLATE = Template((Path(__file__).parent / "statement_template.csv").read_text())
UPLOAD = reverse("admin:backoffice_statementimport_upload")
FETCH = reverse("admin:backoffice_statementimport_fetch")


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


@pytest.fixture
def books():
    """Our side on 14 May 2026 (Dar es Salaam): payments, a paid payout and a deposit."""
    with time_machine.travel(datetime(2026, 5, 14, 10, 0, tzinfo=DAR)):
        records = {
            "paid": earn(CreatorFactory(), Decimal("10000.00")),
            "short": earn(CreatorFactory(), Decimal("20000.00")),
            "pending": PaymentFactory(),
            "not_in_statement": earn(CreatorFactory(), Decimal("30000.00")),
            "payout": paid_payout(),
        }
        # The sale whose earnings the payout carries.
        records["sale"] = Payment.objects.get(order__lines__creator=records["payout"].creator)
        deposit_record(reference="DEP20260514A", amount=Decimal("500000.00"), currency="TZS", gateway_id="DEP1")
    return records


@pytest.fixture
def statement_csv(books) -> bytes:
    return TEMPLATE.substitute(
        sale_ref=books["sale"].reference,
        sale_amount=money(books["sale"].amount),
        paid_ref=books["paid"].reference,
        paid_amount=money(books["paid"].amount),
        short_ref=books["short"].reference,
        short_amount=money(books["short"].amount - 100),
        pending_ref=books["pending"].reference,
        pending_amount=money(books["pending"].amount),
        payout_ref=books["payout"].reference,
        payout_amount=money(books["payout"].amount),
        deposit_ref="DEP20260514A",
    ).encode()


def outcomes(statement: StatementImport) -> dict[str, str]:
    return {f"{line.line_type}:{line.order_reference}": line.outcome for line in statement.lines.all()}


@pytest.mark.django_db
def test_each_row_gets_its_outcome_and_our_missing_records_are_listed(books, statement_csv, finance_user):
    statement = statement_import_csv(statement_csv, by=finance_user, currency="TZS", filename="may.csv")
    assert outcomes(statement) == {
        f"Payment:{books['sale'].reference}": Outcome.MATCHED,
        f"Payment:{books['paid'].reference}": Outcome.MATCHED,
        f"Payment:{books['short'].reference}": Outcome.AMOUNT_DIFFERS,
        f"Payment:{books['pending'].reference}": Outcome.STATUS_DIFFERS,
        "Payment:BLNGHOST0000001": Outcome.MISSING_OURS,
        f"Payout:{books['payout'].reference}": Outcome.MATCHED,
        f"Fee - Payout:{books['payout'].reference}": Outcome.MATCHED,
        "Deposit:DEP20260514A": Outcome.MATCHED,
        f"Payment:{books['not_in_statement'].reference}": Outcome.MISSING_THEIRS,
    }


@pytest.mark.django_db
def test_the_import_keeps_its_period_rows_and_links(books, statement_csv, finance_user):
    statement = statement_import_csv(statement_csv, by=finance_user, currency="TZS", filename="may.csv")
    assert (statement.period_start, statement.period_end, statement.row_count) == (
        date(2026, 5, 14),
        date(2026, 5, 14),
        8,
    )
    short = statement.lines.get(order_reference=books["short"].reference)
    assert (short.payment, short.amount, short.our_amount) == (
        books["short"],
        books["short"].amount - 100,
        books["short"].amount,
    )
    ours = books["short"].amount
    assert f"ClickPesa {format_money(ours - 100, 'TZS')}, ours {format_money(ours, 'TZS')}" in short.detail
    missing = statement.lines.get(outcome=Outcome.MISSING_THEIRS)
    assert (missing.row_number, missing.payment) == (None, books["not_in_statement"])


@pytest.mark.django_db
def test_a_payment_outside_the_period_is_not_missing(books, statement_csv, finance_user):
    with time_machine.travel(datetime(2026, 5, 16, 9, 0, tzinfo=DAR)):
        later = capture(PaymentFactory())
    statement = statement_import_csv(statement_csv, by=finance_user, currency="TZS")
    assert not statement.lines.filter(order_reference=later.reference).exists()


@pytest.mark.django_db
def test_a_row_seen_twice_is_flagged_on_its_second_appearance(books, finance_user):
    row = f"X1,{books['paid'].reference},2026-05-14,dup,Credit,{books['paid'].amount},TZS,,Payment\n"
    data = ("id,orderReference,date,description,entry,amount,currency,balance,type\n" + row + row).encode()
    statement = statement_import_csv(data, by=finance_user, currency="TZS")
    assert list(
        statement.lines.filter(order_reference=books["paid"].reference)
        .order_by("row_number")
        .values_list("outcome", flat=True)
    ) == [Outcome.MATCHED, Outcome.MISSING_OURS]


def test_a_file_without_the_statement_columns_is_refused_whole():
    with pytest.raises(StatementError, match="lacks the column"):
        statement_rows_from_csv(b"id,reference,amount\n1,BLN1,100\n")


def test_unreadable_amounts_and_dates_are_named_by_row():
    data = b"id,orderReference,date,description,entry,amount,currency,balance,type\n"
    data += b"1,BLN1,2026-05-14,x,Credit,abc,TZS,,Payment\n2,BLN2,yesterday,x,Credit,5,TZS,,Payment\n"
    with pytest.raises(StatementError, match=r"row 2: amount 'abc'.*row 3: date 'yesterday'"):
        statement_rows_from_csv(data)


def test_iso_dates_with_an_offset_and_dashboard_dates_in_local_time_both_read():
    data = b"ID,OrderReference,Date,Description,Entry,Amount,Currency,Balance,Type\n"
    data += (
        b"1,BLN1,2026-05-14T07:00:00.000Z,x,Credit,5,TZS,,Payment\n2,BLN2,14/05/2026 10:00,x,Credit,5,TZS,,Payment\n"
    )
    first, second = statement_rows_from_csv(data)
    assert first.date == second.date == datetime(2026, 5, 14, 10, 0, tzinfo=DAR)


@pytest.mark.django_db
def test_finance_uploads_a_statement_and_sees_its_outcomes(finance, finance_user, books, statement_csv):
    upload = SimpleUploadedFile("may.csv", statement_csv, content_type="text/csv")
    response = finance.post(UPLOAD, {"file": upload, "currency": "TZS"}, follow=True)
    statement = StatementImport.objects.get()
    assert response.redirect_chain[-1][0] == reverse("admin:backoffice_statementimport_change", args=[statement.pk])
    assert messages_of(response) == [
        f"{statement} imported: 8 rows read; 5 matched, 1 amount differs, 1 status differs, "
        "1 missing on our side, 1 missing on clickpesa's side."
    ]
    page = response.content.decode()
    assert 'id="statement-attention"' in page and "BLNGHOST0000001" in page
    entry = LogEntry.objects.get(object_id=str(statement.pk), content_type__model="statementimport")
    assert (entry.user, entry.action_flag) == (finance_user, ADDITION)


@pytest.mark.django_db
def test_a_bad_upload_is_refused_and_nothing_is_kept(finance):
    upload = SimpleUploadedFile("bad.csv", b"just,some,columns\n1,2,3\n", content_type="text/csv")
    response = finance.post(UPLOAD, {"file": upload, "currency": "TZS"})
    assert response.status_code == 200
    assert "lacks the column(s)" in response.content.decode()
    assert not StatementImport.objects.exists()


@pytest.mark.django_db
@responses.activate
def test_finance_fetches_a_statement_for_a_period_from_clickpesa(finance, books, settings):
    settings.CLICKPESA_BASE_URL = "https://clickpesa.invalid/third-parties"
    settings.CLICKPESA_CLIENT_ID, settings.CLICKPESA_API_KEY = "client", "key"
    responses.post(f"{settings.CLICKPESA_BASE_URL}/generate-token", json={"success": True, "token": "Bearer t"})
    paid = books["paid"]
    responses.get(
        f"{settings.CLICKPESA_BASE_URL}/account/statement",
        json={
            "accountDetails": {"currency": "TZS"},
            "transactions": [
                {
                    "id": "CPS1",
                    "orderReference": paid.reference,
                    "date": "2026-05-14T07:05:00.000Z",
                    "description": "Payment",
                    "entry": "Credit",
                    "amount": str(paid.amount),
                    "currency": "TZS",
                    "balance": "1000000.00",
                    "type": "Payment",
                }
            ],
        },
    )
    response = finance.post(
        FETCH, {"currency": "TZS", "period_start": "2026-05-14", "period_end": "2026-05-14"}, follow=True
    )
    statement = StatementImport.objects.get()
    assert statement.source == StatementImport.Source.API
    assert statement.lines.get(order_reference=paid.reference).outcome == Outcome.MATCHED
    # The other three payments of the day, the payout and the deposit.
    assert statement.lines.filter(outcome=Outcome.MISSING_THEIRS).count() == 5
    assert "startDate=2026-05-14" in responses.calls[-1].request.url
    assert messages_of(response)[0].startswith(f"{statement} imported: 1 rows read; 1 matched")


@pytest.mark.django_db
@responses.activate
def test_a_clickpesa_failure_while_fetching_is_shown_and_nothing_is_kept(finance, settings):
    settings.CLICKPESA_BASE_URL = "https://clickpesa.invalid/third-parties"
    settings.CLICKPESA_CLIENT_ID, settings.CLICKPESA_API_KEY = "client", "key"
    responses.post(f"{settings.CLICKPESA_BASE_URL}/generate-token", json={"success": True, "token": "Bearer t"})
    responses.get(f"{settings.CLICKPESA_BASE_URL}/account/statement", status=503, json={"message": "down"})
    response = finance.post(FETCH, {"currency": "TZS", "period_start": "2026-05-01", "period_end": "2026-05-31"})
    assert response.status_code == 200
    assert 'class="errornote"' in response.content.decode()
    assert not StatementImport.objects.exists()
