"""Closed days: platform accounts' balances read from the last closed day plus the entries after it,
equal to the journal at every moment; closing is idempotent and audited."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from revenue.ledger import account_balance, balance_as_of, entries_balance, ledger_audit, ledger_close_days
from revenue.models import LedgerAccount, LedgerAccountDay, LedgerEntry
from tests.factories import CreatorFactory, earn

Kind = LedgerAccount.Kind
DAR = timezone.get_default_timezone()


def cash() -> LedgerAccount:
    return LedgerAccount.objects.get(kind=Kind.GATEWAY_CASH, creator=None, currency="TZS")


def journal(account: LedgerAccount, before: datetime) -> Decimal:
    """The truth: every entry before the moment, summed here without the ledger's code."""
    entries = LedgerEntry.objects.filter(account=account, created_at__lt=before)
    debits = entries.filter(direction="DEBIT").aggregate(s=Sum("amount", default=Decimal(0)))["s"]
    credits = entries.filter(direction="CREDIT").aggregate(s=Sum("amount", default=Decimal(0)))["s"]
    return debits - credits if account.is_debit_normal else credits - debits


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=DAR)


def sales() -> None:
    creator = CreatorFactory()
    for moment, amount in [
        ("2026-03-10 12:00", "10000.00"),
        ("2026-03-10 23:59:59", "3000.00"),  # the last second of a day
        ("2026-03-11 00:00", "4000.00"),  # the first instant of the next
        ("2026-04-02 09:00", "20000.00"),
    ]:
        with time_machine.travel(at(moment), tick=False):
            earn(creator, Decimal(amount))


@pytest.mark.django_db
def test_a_day_closes_an_hour_after_it_ends_and_once():
    sales()
    account = cash()
    with time_machine.travel(at("2026-04-03 00:30"), tick=False):
        assert ledger_close_days() > 0
    days = LedgerAccountDay.objects.filter(account=account).order_by("day")
    assert (days.first().day.isoformat(), days.last().day.isoformat()) == ("2026-03-10", "2026-04-01")
    with time_machine.travel(at("2026-04-03 00:59"), tick=False):
        assert ledger_close_days() == 0  # 2 April ended less than an hour ago
    with time_machine.travel(at("2026-04-03 01:00"), tick=False):
        written = ledger_close_days()
        assert written == LedgerAccount.objects.filter(kind__in=LedgerAccount.UNCACHED_KINDS).count()
        assert ledger_close_days() == 0
    assert days.last().day.isoformat() == "2026-04-02"
    for day in days:
        assert day.balance == journal(account, datetime.combine(day.day + timedelta(days=1), datetime.min.time(), DAR))


@pytest.mark.django_db
def test_balances_from_closed_days_equal_the_journal_at_every_moment():
    sales()
    account = cash()
    ledger_close_days()
    moments = [
        "2026-03-01 00:00",
        "2026-03-10 12:00",
        "2026-03-10 23:59:59",
        "2026-03-11 00:00",
        "2026-03-11 00:00:00.000001",
        "2026-03-20 08:00",
        "2026-04-02 09:00",
        "2026-04-02 09:00:00.000001",
    ]
    for moment in moments:
        assert balance_as_of(account, at(moment)) == journal(account, at(moment)), moment
    earn(CreatorFactory(), Decimal("5000.00"))  # today, after the last closed day
    now = timezone.now() + timedelta(seconds=1)
    assert balance_as_of(account, now) == journal(account, now)
    assert account_balance(account) == entries_balance(account) == journal(account, now)


@pytest.mark.django_db
def test_a_read_starts_from_the_closed_day_and_the_audit_catches_one_that_is_wrong():
    sales()
    account = cash()
    ledger_close_days()
    assert ledger_audit(record=False).ok
    before = account_balance(account)
    last = LedgerAccountDay.objects.filter(account=account).order_by("-day").first()
    LedgerAccountDay.objects.filter(pk=last.pk).update(balance=last.balance + Decimal("1.00"))
    # The read starts from the last closed day's figure: the shilling added there shows.
    assert account_balance(account) == before + Decimal("1.00")
    run = ledger_audit(record=False)
    assert not run.ok
    assert [d["problem"] for d in run.differences] == ["closed day differs from entries"]
    assert run.differences[0]["kind"] == Kind.GATEWAY_CASH
    call_command("ledger_close_days", "--reopen-from", last.day.isoformat())
    assert ledger_audit(record=False).ok
    assert account_balance(account) == before
