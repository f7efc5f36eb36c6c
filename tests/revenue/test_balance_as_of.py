"""Balances at any moment from the journal (ledger.balance_as_of) and the trial balance page and its exports."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from revenue.ledger import balance_as_of, entries_balance, trial_balance
from revenue.models import LedgerAccount
from tests.factories import CreatorFactory, earn
from tests.staff import paid_payout

Kind = LedgerAccount.Kind
PAGE = reverse("admin:revenue_trial_balance")


def account(kind: str, creator=None) -> LedgerAccount:
    return LedgerAccount.objects.get(kind=kind, creator=creator, currency="TZS")


@pytest.mark.django_db
def test_the_balance_as_of_a_moment_counts_only_entries_posted_before_it():
    creator = CreatorFactory()
    with time_machine.travel("2026-03-10 12:00 +0300", tick=False):
        earn(creator, Decimal("10000.00"))
    with time_machine.travel("2026-04-02 09:00 +0300", tick=False):
        earn(creator, Decimal("20000.00"))
    available = account(Kind.CREATOR_AVAILABLE, creator)
    cash = account(Kind.GATEWAY_CASH)
    april = timezone.datetime(2026, 4, 1, tzinfo=timezone.get_current_timezone())
    assert balance_as_of(available, april) == Decimal("9200.00")
    assert balance_as_of(cash, april) == Decimal("11000.00")
    assert balance_as_of(available, april - timedelta(days=30)) == 0
    assert balance_as_of(available, timezone.now()) == entries_balance(available) == available.balance


@pytest.mark.django_db
def test_the_balance_as_of_a_moment_is_one_query_on_the_account_time_index():
    creator = CreatorFactory()
    earn(creator)
    available = account(Kind.CREATOR_AVAILABLE, creator)
    with CaptureQueriesContext(connection) as queries:
        balance_as_of(available, timezone.now())
    assert len(queries) == 1
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("EXPLAIN " + queries[0]["sql"])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "ledger_entry_account_time" in plan


@pytest.mark.django_db
def test_the_trial_balance_lists_every_account_and_debits_equal_credits():
    creator = CreatorFactory()
    earn(creator, Decimal("10000.00"))
    paid_payout()
    balance = trial_balance(timezone.now() + timedelta(seconds=1))
    assert balance.balanced
    debits, credits = balance.totals["TZS"]
    assert debits == credits > 0
    kinds = {(line.account.kind, line.account.creator_id) for line in balance.lines}
    assert (Kind.CREATOR_AVAILABLE, creator.pk) in kinds
    assert (Kind.PAYOUT_FEES, None) in kinds


@pytest.mark.django_db
def test_the_trial_balance_page_shows_a_past_date_and_exports_csv_and_typed_xlsx(finance, finance_user):
    creator = CreatorFactory()
    with time_machine.travel("2026-03-10 12:00 +0300", tick=False):
        earn(creator, Decimal("10000.00"))
    earn(creator, Decimal("20000.00"))

    page = finance.get(PAGE, {"as_of": "2026-03-31"})
    assert page.status_code == 200
    assert page.context["balance"].totals == {"TZS": (Decimal("11000.00"), Decimal("11000.00"))}
    assert "Debits equal credits." in page.content.decode()

    download = finance.get(PAGE, {"as_of": "2026-03-31", "format": "csv"})
    assert download["Content-Disposition"] == 'attachment; filename="trial-balance-2026-03-31.csv"'
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == ["account", "kind", "creator", "currency", "debit", "credit"]
    assert rows[-1] == ["", "Total", "", "TZS", "11000.00", "11000.00"]

    sheet = load_workbook(io.BytesIO(finance.get(PAGE, {"as_of": "2026-03-31", "format": "xlsx"}).content)).active
    total = list(sheet[sheet.max_row])
    assert total[4].value == 11000 and total[4].number_format == "#,##0.00"
    assert (
        LogEntry.objects.filter(user=finance_user, change_message__startswith="Downloaded Trial balance").count() == 2
    )


@pytest.mark.django_db
@pytest.mark.parametrize("as_of", ["not-a-date", "0001-01-01", "9999-12-31", "2026-02-30"])
def test_a_bad_date_is_a_form_error_not_a_500(finance, as_of):
    response = finance.get(PAGE, {"as_of": as_of, "format": "csv"})
    assert response.status_code == 200
    assert response.context["balance"] is None


@pytest.mark.django_db
def test_support_may_not_see_the_ledger_at_a_date(support):
    assert support.get(PAGE).status_code == 403
    assert support.get(PAGE, {"format": "csv", "as_of": "2026-03-31"}).status_code == 403
