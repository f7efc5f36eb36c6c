"""The statement pages: upload and fetch forms, their limits, who may use them, and what an import shows."""

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import responses
import time_machine
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.admin import STATEMENT_MAX_BYTES, STATEMENT_MAX_DAYS
from backoffice.models import StatementImport, StatementLine
from backoffice.reconciliation import statement_import_csv
from revenue.services import deposit_record
from tests.factories import CreatorFactory, earn
from tests.staff import AdminClient, messages_of, paid_payout, staff

Outcome = StatementLine.Outcome
DAR = ZoneInfo("Africa/Dar_es_Salaam")
UPLOAD = reverse("admin:backoffice_statementimport_upload")
FETCH = reverse("admin:backoffice_statementimport_fetch")
IMPORTS = reverse("admin:backoffice_statementimport_changelist")
LINES = reverse("admin:backoffice_statementline_changelist")
BASE = "https://clickpesa.test/third-parties"
HEADER = "id,orderReference,date,description,entry,amount,currency,balance,type"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clickpesa(settings):
    settings.CLICKPESA_BASE_URL = BASE
    settings.CLICKPESA_CLIENT_ID, settings.CLICKPESA_API_KEY = "client-1", "key-1"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "pages"}}
    cache.clear()


@pytest.fixture
def offline():
    """ClickPesa answers nothing: any request the page sends is recorded and fails."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/generate-token", json={"success": True, "token": "Bearer t"})
        yield mock


def statement_file(*rows: str, name: str = "may.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, "\n".join([HEADER, *rows]).encode(), content_type="text/csv")


def withdraw(reference: str = "CPW1", day: str = "2026-05-14") -> str:
    return f"{reference},{reference},{day},Withdraw,Debit,1000,TZS,,Withdraw"


def errors(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


def period(start: date, end: date, **extra) -> dict:
    return {"currency": "TZS", "period_start": start.isoformat(), "period_end": end.isoformat(), **extra}


# The forms


def test_the_upload_page_asks_for_the_file_currency_and_an_optional_period(finance):
    page = finance.get(UPLOAD).content.decode()
    for text in (
        'type="file" name="file"',
        'name="currency"',
        'type="date" name="period_start"',
        "Upload and reconcile",
    ):
        assert text in page
    assert "Optional: the first and last dates in the file otherwise." in page


def test_the_fetch_page_asks_for_a_currency_and_a_period_but_no_file(finance):
    page = finance.get(FETCH).content.decode()
    assert 'name="period_end"' in page and "Fetch and reconcile" in page
    assert 'type="file"' not in page


def test_an_upload_period_that_starts_after_it_ends_is_refused(finance):
    response = finance.post(UPLOAD, {"file": statement_file(withdraw()), **period(date(2026, 5, 20), date(2026, 5, 1))})
    assert "The period starts after it ends." in errors(response)
    assert not StatementImport.objects.exists()


def test_a_fetch_period_that_starts_after_it_ends_is_refused_without_asking_clickpesa(finance, offline):
    response = finance.post(FETCH, period(date(2026, 5, 20), date(2026, 5, 1)))
    assert "The period starts after it ends." in errors(response)
    assert len(offline.calls) == 0


def test_a_fetch_period_longer_than_93_days_is_refused_without_asking_clickpesa(finance, offline):
    start = date(2026, 1, 1)
    response = finance.post(FETCH, period(start, start + timedelta(days=STATEMENT_MAX_DAYS)))
    assert "Choose a period of at most 93 days." in errors(response)
    assert len(offline.calls) == 0
    assert not StatementImport.objects.exists()


def test_a_fetch_period_of_exactly_93_days_is_fetched(finance, api):
    api.get(f"{BASE}/account/statement", json={"transactions": []})
    start = date(2026, 1, 1)
    end = start + timedelta(days=STATEMENT_MAX_DAYS - 1)
    response = finance.post(FETCH, period(start, end), follow=True)
    statement = StatementImport.objects.get()
    assert (statement.period_start, statement.period_end) == (start, date(2026, 4, 3))
    assert messages_of(response) == [f"{statement} imported: 0 rows read; nothing to compare."]


def test_an_upload_period_longer_than_93_days_is_refused_too(finance):
    response = finance.post(UPLOAD, {"file": statement_file(withdraw()), **period(date(2026, 1, 1), date(2026, 6, 1))})
    assert "Choose a period of at most 93 days." in errors(response)
    assert not StatementImport.objects.exists()


def test_a_fetch_without_a_period_names_both_missing_dates(finance, offline):
    page = errors(finance.post(FETCH, {"currency": "TZS"}))
    assert page.count("This field is required.") == 2
    assert len(offline.calls) == 0


def test_a_currency_we_do_not_use_is_refused(finance, offline):
    page = errors(finance.post(FETCH, period(date(2026, 5, 1), date(2026, 5, 2), currency="KES")))
    assert "Select a valid choice. KES is not one of the available choices." in page
    assert len(offline.calls) == 0


def test_an_upload_without_a_file_is_refused(finance):
    assert "This field is required." in errors(finance.post(UPLOAD, {"currency": "TZS"}))
    assert not StatementImport.objects.exists()


def test_an_empty_file_is_refused(finance):
    empty = SimpleUploadedFile("empty.csv", b"", content_type="text/csv")
    assert "The submitted file is empty." in errors(finance.post(UPLOAD, {"file": empty, "currency": "TZS"}))
    assert not StatementImport.objects.exists()


def test_a_file_over_10_mb_is_refused_before_it_is_read(finance):
    big = SimpleUploadedFile("big.csv", HEADER.encode() + b"\n" + b"x" * STATEMENT_MAX_BYTES, content_type="text/csv")
    assert big.size > STATEMENT_MAX_BYTES
    response = finance.post(UPLOAD, {"file": big, "currency": "TZS"})
    assert "The file is larger than 10 MB." in errors(response)
    assert "lacks the column" not in response.content.decode()
    assert not StatementImport.objects.exists()


def test_a_file_of_exactly_10_mb_is_read(finance):
    body = f"{HEADER}\n{withdraw()}\n".encode()
    room = STATEMENT_MAX_BYTES - len(body)
    padding = (" " * 99 + "\n") * (room // 100) + " " * (room % 100)  # blank lines: skipped
    exact = SimpleUploadedFile("exact.csv", body + padding.encode(), content_type="text/csv")
    assert exact.size == STATEMENT_MAX_BYTES
    response = finance.post(UPLOAD, {"file": exact, "currency": "TZS"}, follow=True)
    assert StatementImport.objects.get().row_count == 1
    assert messages_of(response)[0].endswith("imported: 1 rows read; 1 missing on our side.")


def test_an_unreadable_file_is_refused_with_its_reason_and_the_form_kept(finance):
    page = errors(finance.post(UPLOAD, {"file": statement_file(withdraw().replace("1000", "lots")), "currency": "USD"}))
    assert "The statement has unreadable rows: row 2: amount &#x27;lots&#x27; is not a number." in page
    assert '<option value="USD" selected>' in page


@pytest.mark.parametrize(
    "cell",
    [
        pytest.param(
            "x" * 140_000,
            id="cell over the csv module's limit",
        ),
        pytest.param(
            "Malipo\x00",
            id="NUL byte",
        ),
    ],
)
def test_a_hostile_cell_is_refused_not_a_server_error(finance, cell):
    upload = statement_file(f"CPW1,CPW1,2026-05-14,{cell},Debit,1000,TZS,,Withdraw")
    response = finance.post(UPLOAD, {"file": upload, "currency": "TZS"})
    assert response.status_code in (200, 302)
    assert response.status_code == 302 or 'class="errornote"' in response.content.decode()


def test_a_given_start_after_the_files_last_day_is_refused_by_the_import(finance):
    """The form has only a start; the end comes from the file's dates, and falls before it."""
    upload = statement_file(withdraw(day="2026-05-14"))
    page = errors(finance.post(UPLOAD, {"file": upload, "currency": "TZS", "period_start": "2026-05-20"}))
    assert '<p class="errornote">The period starts after it ends.</p>' in page
    assert not StatementImport.objects.exists()


def test_a_given_period_is_kept_over_the_files_dates(finance):
    response = finance.post(
        UPLOAD, {"file": statement_file(withdraw()), **period(date(2026, 5, 1), date(2026, 5, 31))}, follow=True
    )
    statement = StatementImport.objects.get()
    assert (statement.period_start, statement.period_end, statement.filename) == (
        date(2026, 5, 1),
        date(2026, 5, 31),
        "may.csv",
    )
    assert response.redirect_chain[-1][0] == reverse("admin:backoffice_statementimport_change", args=[statement.pk])


def test_a_fetch_is_logged_as_an_addition_by_whoever_fetched(finance, finance_user, api):
    api.get(f"{BASE}/account/statement", json={"transactions": [{"id": "W1", "amount": "5", "type": "Withdraw"}]})
    finance.post(FETCH, period(date(2026, 5, 1), date(2026, 5, 31)))
    statement = StatementImport.objects.get()
    entry = LogEntry.objects.get(object_id=str(statement.pk), content_type__model="statementimport")
    assert (entry.user, entry.action_flag, entry.change_message) == (
        finance_user,
        ADDITION,
        "Imported statement: 1 rows read; 1 missing on our side",
    )


def test_clickpesas_refusal_is_shown_in_its_words(finance, api):
    api.get(f"{BASE}/account/statement", status=400, json={"message": "Invalid date: use YYYY-MM-DD"})
    page = errors(finance.post(FETCH, period(date(2026, 5, 1), date(2026, 5, 31))))
    assert "Invalid date: use YYYY-MM-DD" in page
    assert not StatementImport.objects.exists()


# Who may


@pytest.mark.parametrize("url", [UPLOAD, FETCH])
def test_support_may_not_open_either_form(support, url):
    assert support.get(url).status_code == 403


def test_support_may_not_upload(support):
    response = support.post(UPLOAD, {"file": statement_file(withdraw()), "currency": "TZS"})
    assert response.status_code == 403
    assert not StatementImport.objects.exists()


def test_support_may_not_make_the_back_office_call_clickpesa(support, offline):
    assert support.post(FETCH, period(date(2026, 5, 1), date(2026, 5, 31))).status_code == 403
    assert len(offline.calls) == 0


@pytest.mark.parametrize("url", [IMPORTS, LINES])
def test_support_sees_no_statements(support, url):
    assert support.get(url).status_code == 403


def test_staff_outside_the_groups_may_not_import(db):
    stranger = AdminClient(staff(None, username="temp"))
    assert stranger.get(UPLOAD).status_code == 403
    assert stranger.post(UPLOAD, {"file": statement_file(withdraw()), "currency": "TZS"}).status_code == 403
    assert not StatementImport.objects.exists()


def test_someone_signed_out_is_sent_to_the_login_page(db):
    response = Client().get(UPLOAD)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_import_links_show_only_to_who_may_import(finance, db):
    viewer = staff(None, username="viewer")
    viewer.user_permissions.add(Permission.objects.get(codename="view_statementimport"))
    assert f'href="{UPLOAD}"' in finance.get(IMPORTS).content.decode()
    page = AdminClient(viewer).get(IMPORTS)
    assert page.status_code == 200
    assert f'href="{UPLOAD}"' not in page.content.decode()
    assert f'href="{FETCH}"' not in page.content.decode()


@pytest.mark.parametrize("model", [StatementImport, StatementLine], ids=lambda m: m.__name__)
def test_not_even_a_superuser_may_edit_or_delete_an_import(root, finance_user, model):
    statement_import_csv(f"{HEADER}\n{withdraw()}".encode(), by=finance_user, currency="TZS")
    obj = model.objects.get()
    name = model._meta.model_name
    change = reverse(f"admin:backoffice_{name}_change", args=[obj.pk])
    assert root.get(change).status_code == 200
    assert root.post(change, {"currency": "USD", "outcome": "MATCHED"}).status_code == 403
    assert root.post(reverse(f"admin:backoffice_{name}_delete", args=[obj.pk]), {"post": "yes"}).status_code == 403
    assert root.get(reverse(f"admin:backoffice_{name}_add")).status_code == 403
    obj.refresh_from_db()
    assert model.objects.filter(pk=obj.pk).exists()


# What an import shows


@pytest.fixture
def imported(finance_user):
    """An import with a match, a difference, a row we lack and a payout the statement lacks."""
    with time_machine.travel(datetime(2026, 5, 14, 10, 0, tzinfo=DAR)):
        payment = earn(CreatorFactory(), Decimal("10000.00"))
        payout = paid_payout()
        deposit_record(reference="DEP1", amount=Decimal("500000.00"), currency="TZS")
    rows = [
        f"CPS1,{payment.reference},2026-05-14,Payment,Credit,{payment.amount},TZS,,Payment",
        "CPD1,DEP1,2026-05-14,Deposit,Credit,400000,TZS,,Deposit",
        withdraw("CPW9"),
    ]
    statement = statement_import_csv("\n".join([HEADER, *rows]).encode(), by=finance_user, currency="TZS")
    return statement, payment, payout


def test_the_list_counts_each_outcome_and_links_to_its_lines(finance, imported):
    statement, _, _ = imported
    page = finance.get(IMPORTS).content.decode()
    link = f'<a href="{LINES}?statement__id__exact={statement.pk}&outcome__exact={{}}">{{}}</a>'
    assert link.format("MATCHED", 1) in page
    assert link.format("AMOUNT_DIFFERS", 1) in page
    assert link.format("STATUS_DIFFERS", 0) in page
    assert link.format("MISSING_OURS", 1) in page
    # The payout and the payout's sale.
    assert link.format("MISSING_THEIRS", 2) in page


def test_an_outcome_link_lists_exactly_those_lines(finance, imported):
    statement, _, payout = imported
    response = finance.get(LINES, {"statement__id__exact": statement.pk, "outcome__exact": "MISSING_THEIRS"})
    lines = list(response.context["cl"].result_list)
    assert len(lines) == 2 and {line.outcome for line in lines} == {Outcome.MISSING_THEIRS}
    assert payout.pk in {line.payout_id for line in lines}


def test_the_line_list_links_each_line_to_our_record(finance, imported):
    statement, payment, payout = imported
    page = finance.get(LINES, {"statement__id__exact": statement.pk}).content.decode()
    assert f'<a href="{reverse("admin:payments_payment_change", args=[payment.pk])}">payment</a>' in page
    assert f'<a href="{reverse("admin:revenue_payout_change", args=[payout.pk])}">payout</a>' in page
    deposit_line = statement.lines.get(order_reference="DEP1")
    assert f'<a href="{reverse("admin:revenue_deposit_change", args=[deposit_line.deposit_id])}">deposit</a>' in page


def test_the_import_page_lists_the_lines_that_need_attention_not_the_matches(finance, imported):
    statement, payment, payout = imported
    page = finance.get(reverse("admin:backoffice_statementimport_change", args=[statement.pk])).content.decode()
    attention = page[page.index('id="statement-attention"') :]
    assert "Lines that need attention (4)" in attention
    assert "ClickPesa TZS 400,000.00, ours TZS 500,000.00" in attention
    assert "CPW9" in attention
    assert f'{reverse("admin:revenue_payout_change", args=[payout.pk])}">{payout.reference}</a>' in attention
    assert payment.reference not in attention
    assert "The first" not in attention


def test_a_statement_that_matched_entirely_says_so(finance, finance_user):
    with time_machine.travel(datetime(2026, 5, 14, 10, 0, tzinfo=DAR)):
        payment = earn(CreatorFactory(), Decimal("10000.00"))
    row = f"CPS1,{payment.reference},2026-05-14,Payment,Credit,{payment.amount},TZS,,Payment"
    statement = statement_import_csv(f"{HEADER}\n{row}".encode(), by=finance_user, currency="TZS")
    page = finance.get(reverse("admin:backoffice_statementimport_change", args=[statement.pk])).content.decode()
    assert "Lines that need attention (0)" in page and "Every line matched." in page


def test_a_long_list_of_differences_shows_the_first_200_and_says_so(finance, finance_user):
    rows = [withdraw(f"CPW{i:04d}") for i in range(205)]
    statement = statement_import_csv("\n".join([HEADER, *rows]).encode(), by=finance_user, currency="TZS")
    page = finance.get(reverse("admin:backoffice_statementimport_change", args=[statement.pk])).content.decode()
    assert "Lines that need attention (205)" in page
    assert "The first 200; follow the outcome links for all." in page
    assert "CPW0199" in page and "CPW0200" not in page


def test_the_import_list_costs_the_same_with_one_or_many_imports(finance, finance_user):
    def make(count: int, start: int = 0) -> None:
        for i in range(start, start + count):
            statement_import_csv(f"{HEADER}\n{withdraw(f'CPW{i}')}".encode(), by=finance_user, currency="TZS")

    def queries() -> int:
        finance.get(IMPORTS)
        with CaptureQueriesContext(connection) as captured:
            assert finance.get(IMPORTS).status_code == 200
        return len(captured)

    make(1)
    few = queries()
    make(10, start=1)
    assert queries() == few


def test_an_uploaded_amount_of_1e20_is_refused_on_the_page_not_a_500(finance):
    huge = "CPW9,CPW9,2026-05-14,Withdraw,Debit,1e20,TZS,,Withdraw"
    response = finance.post(UPLOAD, {"file": statement_file(withdraw(), huge), "currency": "TZS"}, follow=True)
    assert response.status_code == 200
    assert "amounts too large or with more than two decimals: row 3" in response.content.decode()
    assert not StatementImport.objects.exists()


def test_a_fetched_amount_of_1e20_is_refused_on_the_page_not_a_500(finance, api):
    row = {
        "id": "CPW9",
        "orderReference": "CPW9",
        "date": "2026-05-14T10:00:00Z",
        "entry": "Debit",
        "amount": 1e20,
        "currency": "TZS",
        "type": "Withdraw",
    }
    api.get(f"{BASE}/account/statement", json={"transactions": [row]})
    response = finance.post(FETCH, period(date(2026, 5, 1), date(2026, 5, 31)), follow=True)
    assert response.status_code == 200
    assert "amounts too large or with more than two decimals: row 1" in response.content.decode()
    assert not StatementImport.objects.exists()
