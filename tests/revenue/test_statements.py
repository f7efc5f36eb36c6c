"""A creator's monthly statement: from the journal, in their language, as a page, CSV and PDF, and emailed monthly."""

import csv
import io
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.urls import reverse

from clickpesa.payloads import GatewayStatus
from core.tables import table_csv
from notifications.models import Notification
from payments.services import payment_mark_reversed
from revenue.fees import earnings_release_due
from revenue.ledger import balance_as_of
from revenue.models import LedgerAccount
from revenue.services import payout_apply_gateway_status, payout_request
from revenue.statement_files import statement_pdf, statement_table, statements_send_monthly
from revenue.statements import Line, creator_statement
from revenue.submission import payout_claim
from tests.factories import CreatorFactory, earn

PAGE = reverse("admin:revenue_statement")


def _march(settings, creator):
    """A month with a held sale released, a payout paid with WHT, one paid then reversed, and the
    February sale reversed by the buyer's bank."""
    settings.WHT_ENABLED = True
    settings.EARNINGS_HOLD_DAYS = 2
    with time_machine.travel("2026-02-20 10:00 +0300", tick=False):
        february = earn(creator, Decimal("10000.00"))  # 9,200 pending in February
    with time_machine.travel("2026-03-02 09:00 +0300", tick=False):
        earnings_release_due()  # released on 2 March
    settings.EARNINGS_HOLD_DAYS = 0
    with time_machine.travel("2026-03-05 11:00 +0300", tick=False):
        earn(creator, Decimal("50000.00"))  # 46,000 available
    with time_machine.travel("2026-03-06 11:00 +0300", tick=False):
        paid = payout_request(creator)  # 55,200 gross: 2,760 WHT, 52,440 sent
        payout_claim(paid.pk)
        payout_apply_gateway_status(paid, GatewayStatus.SUCCESS, source="webhook", fee=Decimal("1180.00"))
    with time_machine.travel("2026-03-20 11:00 +0300", tick=False):
        earn(creator, Decimal("20000.00"))  # 18,400 available
        reversed_ = payout_request(creator)  # 920 WHT, 17,480 sent
        payout_claim(reversed_.pk)
        payout_apply_gateway_status(reversed_, GatewayStatus.SUCCESS, source="webhook", fee=Decimal("1180.00"))
    with time_machine.travel("2026-03-21 11:00 +0300", tick=False):
        payout_apply_gateway_status(reversed_, GatewayStatus.REVERSED, source="webhook", reason="reversed by operator")
    with time_machine.travel("2026-03-25 11:00 +0300", tick=False):
        payment_mark_reversed(february, status="REVERSED", reason="Chargeback")  # takes 9,200 back
    with time_machine.travel("2026-04-02 11:00 +0300", tick=False):
        earn(creator, Decimal("10000.00"))  # April: not on March's statement
    return paid, reversed_


@pytest.mark.django_db
def test_a_month_with_a_sale_a_release_a_payout_with_wht_and_a_reversal_adds_up_to_the_journal(settings):
    creator = CreatorFactory(username="asha")
    paid, reversed_ = _march(settings, creator)
    statement = creator_statement(creator, year=2026, month=3)

    assert statement.opening == Decimal("9200.00")
    kinds = [line.line for line in statement.lines]
    assert kinds == [
        Line.RELEASE,
        Line.SALE,
        Line.PAYOUT,
        Line.PAYOUT_PAID,
        Line.SALE,
        Line.PAYOUT,
        Line.PAYOUT_PAID,
        Line.PAYOUT_RETURNED,
        Line.REVERSAL,
    ]
    release, sale, request, settle, _sale2, _request2, _settle2, returned, reversal = statement.lines
    assert (release.amount, release.balance) == (0, Decimal("9200.00"))
    assert (sale.sale, sale.platform_fee, sale.amount) == (Decimal("50000.00"), Decimal("4000.00"), Decimal("46000.00"))
    assert (request.reference, request.withholding_tax, request.amount) == (paid.reference, Decimal("2760.00"), -2760)
    assert settle.amount == Decimal("-52440.00")
    assert (returned.reference, returned.withholding_tax, returned.amount) == (
        reversed_.reference,
        Decimal("-920.00"),
        Decimal("18400.00"),
    )
    assert returned.detail.startswith("Reversed: M-Pesa")
    assert (reversal.amount, reversal.balance) == (Decimal("-9200.00"), Decimal("9200.00"))
    assert "Chargeback" in reversal.detail
    accounts = LedgerAccount.objects.filter(creator=creator)
    owed = sum(balance_as_of(a, statement.end) * (-1 if a.is_debit_normal else 1) for a in accounts)
    assert statement.closing == owed == Decimal("9200.00")
    assert statement.opening + statement.total("amount") == statement.closing
    assert statement.total("withholding_tax") == Decimal("2760.00")


@pytest.mark.django_db
def test_the_csv_and_pdf_are_in_the_creators_language(settings):
    creator = CreatorFactory(username="juma", language="sw")
    _march(settings, creator)
    statement = creator_statement(creator, year=2026, month=3)
    rows = list(csv.reader(io.StringIO(statement_table_csv(statement))))
    assert rows[0][:3] == ["Tarehe", "Aina", "Kumbukumbu"]
    assert rows[1][1] == "Salio la mwanzo" and rows[-1][1] == "Salio la mwisho"
    assert rows[-1][-1] == "9200.00"
    pdf = statement_pdf(statement)
    assert pdf.startswith(b"%PDF-") and len(pdf) > 1500


def statement_table_csv(statement) -> str:
    return table_csv(statement_table(statement)).decode("utf-8-sig")


@pytest.mark.django_db
def test_finance_opens_a_statement_and_downloads_it_as_pdf_and_csv(settings, finance):
    creator = CreatorFactory(username="asha")
    _march(settings, creator)
    query = {"creator": creator.pk, "month": "2026-03", "currency": "TZS"}
    page = finance.get(PAGE, query)
    assert page.status_code == 200
    assert page.context["statement"].closing == Decimal("9200.00")
    pdf = finance.get(PAGE, {**query, "format": "pdf"})
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == 'attachment; filename="blinno-statement-asha-2026-03.pdf"'
    assert pdf.content.startswith(b"%PDF-")
    download = finance.get(PAGE, {**query, "format": "csv"})
    assert download["Content-Disposition"] == 'attachment; filename="blinno-statement-asha-2026-03.csv"'


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        {"month": "2026-3"},
        {"month": "2026-13"},
        {"month": "0001-01"},
        {"month": "march"},
        {"month": "9999-12"},
        {"creator": "x"},
        {"creator": "999999999"},
        {"currency": "TZSX"},
    ],
)
def test_bad_input_is_a_form_error_not_a_500(finance, query):
    creator = CreatorFactory()
    response = finance.get(PAGE, {"creator": creator.pk, "month": "2026-03", "currency": "TZS", **query})
    assert response.status_code == 200
    assert response.context["statement"] is None


@pytest.mark.django_db
def test_support_cannot_see_statements(support):
    assert support.get(PAGE).status_code == 403


@pytest.mark.django_db
def test_opted_in_creators_get_last_months_statement_by_email_once_in_their_language(
    settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    asha = CreatorFactory(username="asha", language="sw", statement_emails=True)
    CreatorFactory(username="juma", statement_emails=False)
    with time_machine.travel("2026-03-05 11:00 +0300", tick=False):
        earn(asha, Decimal("10000.00"))
    with (
        time_machine.travel("2026-04-01 06:00 +0300", tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert statements_send_monthly() == 1
        assert statements_send_monthly() == 0
    row = Notification.objects.get(kind=Notification.Kind.MONTHLY_STATEMENT)
    assert row.recipient == asha and row.language == "sw"
    assert row.subject == "Taarifa yako ya Blinno ya Machi 2026"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    (name, content, content_type) = message.attachments[0]
    assert (name, content_type) == ("blinno-statement-asha-2026-03.pdf", "application/pdf")
    assert content.startswith(b"%PDF-")
    assert "salio la mwisho TZS 9,200.00" in message.body
