"""Finance's reports, built from the journal as tables (core.tables writes them as CSV or XLSX).

Periods are calendar days and months in Tanzania's time (settings.TIME_ZONE): "as of 31 March"
means every entry posted before 1 April 00:00 EAT.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone

from core.tables import Table

from .ledger import TrialBalance, trial_balance


def day_end(day: date) -> datetime:
    """The first instant after ``day`` in local time: the moment a balance "as of ``day``" is taken."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """The first instant of the month and of the next one, local time."""
    start = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return timezone.make_aware(datetime.combine(start, time.min)), timezone.make_aware(
        datetime.combine(following, time.min)
    )


def trial_balance_as_of(day: date) -> TrialBalance:
    """Every account's balance at the end of ``day`` (local time)."""
    return trial_balance(day_end(day))


def trial_balance_table(balance: TrialBalance, *, day: date) -> Table:
    """The trial balance as a table: one row per account, then each currency's totals."""
    table = Table(
        title=f"Trial balance {day.isoformat()}",
        headers=["account", "kind", "creator", "currency", "debit", "credit"],
    )
    for line in balance.lines:
        account = line.account
        creator = account.creator.username if account.creator_id and account.creator else ""
        table.rows.append([account.pk, account.get_kind_display(), creator, account.currency, line.debit, line.credit])
    for currency, (debits, credits) in sorted(balance.totals.items()):
        table.rows.append([None, "Total", "", currency, debits, credits])
    return table
