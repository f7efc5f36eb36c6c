"""The staff home page's figures: work queue counts, money volumes by day, ClickPesa's
balance against our books, and the webhooks acknowledged but not yet settled. Reads only; a
fixed number of queries whatever the table sizes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.core.cache import cache
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from clickpesa import inbox
from clickpesa.client import ClickPesaClient, ClickPesaError, credentials_configured
from core.display import day_start, local_day
from core.money import Currency
from core.queues import COUNT_CAP, WorkQueue, queues_for
from core.upsert import insert_all_on_conflict
from core.users import User
from payments.models import Payment
from revenue.ledger import account_balance, balance_as_of
from revenue.models import LedgerAccount, Payout, PlatformFee

from .models import DayVolume, StatementImport, StatementLine
from .queues import FINANCE, SUPPORT

logger = logging.getLogger(__name__)

DAYS = 30
BALANCE_CACHE_SECONDS = 300  # ClickPesa's balance is asked at most every five minutes, not per page view
UNAVAILABLE, UNAVAILABLE_CACHE_SECONDS = "unavailable", 60


@dataclass(frozen=True)
class QueueCount:
    queue: WorkQueue
    count: int

    @property
    def capped(self) -> bool:
        return self.count > COUNT_CAP

    @property
    def shown(self) -> str:
        return f"{COUNT_CAP:,}+" if self.capped else f"{self.count:,}"


def queue_counts(queues: list[WorkQueue]) -> list[QueueCount]:
    """One capped COUNT per queue."""
    return [QueueCount(queue, queue.count()) for queue in queues]


@dataclass(frozen=True)
class Day:
    day: date
    amount: Decimal
    count: int
    height: int  # percent of the period's busiest day, for the bar chart


@dataclass(frozen=True)
class Volume:
    label: str
    currency: str
    days: list[Day]

    @property
    def today(self) -> Day:
        return self.days[-1]

    @property
    def total(self) -> Decimal:
        return sum((d.amount for d in self.days), Decimal(0))

    @property
    def count(self) -> int:
        return sum(d.count for d in self.days)


Metric = DayVolume.Metric


def _rows(metric: str, currency: str, start: datetime, end: datetime) -> tuple[QuerySet, str, str]:
    """The rows one volume sums between ``start`` and ``end``: (rows, their moment, their amount)."""
    if metric == Metric.PAYMENTS:
        payments = Payment.objects.filter(status=Payment.Status.COMPLETED, currency=currency)
        return payments.filter(completed_at__gte=start, completed_at__lt=end), "completed_at", "amount"
    if metric == Metric.PAYOUTS:
        payouts = Payout.objects.filter(status=Payout.Status.PAID, currency=currency)
        return payouts.filter(paid_at__gte=start, paid_at__lt=end), "paid_at", "amount"
    fees = PlatformFee.objects.filter(currency=currency).exclude(status=PlatformFee.Status.REFUNDED)
    return fees.filter(collected_at__gte=start, collected_at__lt=end), "collected_at", "platform_fee"


def _summed(metric: str, currency: str, first: date, last: date) -> dict[date, tuple[Decimal, int]]:
    """One volume per local day from ``first`` to ``last``, from its table (one query; empty days absent)."""
    local = timezone.get_default_timezone()
    rows, moment, amount = _rows(metric, currency, day_start(first), day_start(last + timedelta(days=1)))
    return {
        row["day"]: (row["total"], row["n"])
        for row in rows.annotate(day=TruncDate(moment, tzinfo=local))
        .values("day")
        .annotate(total=Sum(amount), n=Count("pk"))
        .order_by()
    }


def volumes_refresh(*, currency: str = Currency.TZS, now: datetime | None = None) -> int:
    """Sum the ended days of the last 30 into DayVolume, rewriting what is there; returns the rows written.

    Three queries over 29 days of rows. Celery beat runs it hourly; the home page then sums only
    today, and an ended day it finds missing (before the first run) from the tables.
    """
    today = local_day(now or timezone.now())
    first, last = today - timedelta(days=DAYS - 1), today - timedelta(days=1)
    rows = []
    for metric in Metric.values:
        found = _summed(metric, currency, first, last)
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            amount, count = found.get(day, (Decimal(0), 0))
            rows.append(DayVolume(metric=metric, currency=currency, day=day, amount=amount, count=count))
    on_conflict = (
        "ON CONFLICT (metric, currency, day) DO UPDATE SET amount = EXCLUDED.amount, count = EXCLUDED.count, "
        "computed_at = EXCLUDED.computed_at"
    )
    return len(insert_all_on_conflict(rows, on_conflict=on_conflict))


def volumes(*, currency: str = Currency.TZS, now: datetime | None = None) -> list[Volume]:
    """Payments collected, payouts paid and platform fees earned per day over the last 30 days.

    The ended days come from DayVolume (one query), today from the tables (one query per
    volume): the cost does not grow with the tables. An ended day not yet refreshed is summed
    from the tables with today.
    """
    today = local_day(now or timezone.now())
    first = today - timedelta(days=DAYS - 1)
    stored: dict[str, dict[date, tuple[Decimal, int]]] = {metric: {} for metric in Metric.values}
    for row in DayVolume.objects.filter(currency=currency, day__gte=first, day__lt=today):
        stored[row.metric][row.day] = (row.amount, row.count)
    result = []
    for metric in Metric.values:
        days = stored[metric]
        missing = [first + timedelta(days=n) for n in range(DAYS - 1) if first + timedelta(days=n) not in days]
        # Today, and from the first ended day the hourly refresh has not written yet.
        live_from = min(missing, default=today)
        days = {day: figures for day, figures in days.items() if day < live_from}
        days.update(_summed(metric, currency, live_from, today))
        peak = max((total for total, _ in days.values()), default=Decimal(0))
        shown = []
        for offset in range(DAYS):
            day = first + timedelta(days=offset)
            total, n = days.get(day, (Decimal(0), 0))
            shown.append(Day(day, total, n, int(total * 100 / peak) if peak else 0))
        result.append(Volume(Metric(metric).label, currency, shown))
    return result


@dataclass(frozen=True)
class CashCheck:
    """ClickPesa's balance for us against our GATEWAY_CASH account, at one moment."""

    currency: str
    theirs: Decimal | None
    ours: Decimal
    source: str
    """Where ClickPesa's figure comes from, in words ("ClickPesa's balance API", "statement #3 ...")."""
    at: datetime | None

    @property
    def difference(self) -> Decimal | None:
        return None if self.theirs is None else self.theirs - self.ours


def _api_balance(currency: str) -> Decimal | None:
    """ClickPesa's balance now, asked at most every BALANCE_CACHE_SECONDS; None when it cannot be had."""
    key = f"backoffice:clickpesa-balance:{currency}"
    cached = cache.get(key)
    if cached == UNAVAILABLE:
        return None
    if cached is not None:
        return Decimal(cached)
    try:
        with ClickPesaClient() as client:
            balances = client.balance()
    except ClickPesaError as exc:
        logger.warning("ClickPesa balance unavailable: %s", exc)
        # While ClickPesa is unreachable, each page view would wait for its timeout: ask again later.
        cache.set(key, UNAVAILABLE, UNAVAILABLE_CACHE_SECONDS)
        return None
    found = next((b.balance for b in balances if b.currency == currency), None)
    if found is not None:
        cache.set(key, str(found), BALANCE_CACHE_SECONDS)
    return found


def cash_check(*, currency: str = Currency.TZS) -> CashCheck:
    """ClickPesa's balance (its API when configured, else the last statement's closing balance) beside ours.

    Against a statement, ours is the balance as of the statement's last line, so the two
    figures describe the same moment.
    """
    gateway = LedgerAccount.objects.filter(
        kind=LedgerAccount.Kind.GATEWAY_CASH, creator__isnull=True, currency=currency
    ).first()
    if credentials_configured():
        theirs = _api_balance(currency)
        if theirs is not None:
            ours = account_balance(gateway) if gateway else Decimal(0)
            return CashCheck(currency, theirs, ours, "ClickPesa's balance API", timezone.now())
    statement = StatementImport.objects.filter(currency=currency).order_by("-created_at", "-id").first()
    last = (
        StatementLine.objects.filter(statement=statement, running_balance__isnull=False, occurred_at__isnull=False)
        .order_by("-occurred_at", "-row_number")
        .first()
        if statement
        else None
    )
    if statement is None or last is None or last.occurred_at is None:
        ours = account_balance(gateway) if gateway else Decimal(0)
        return CashCheck(currency, None, ours, "no statement with balances imported yet", None)
    ours = balance_as_of(gateway, last.occurred_at + timedelta(microseconds=1)) if gateway else Decimal(0)
    return CashCheck(currency, last.running_balance, ours, f"closing balance of {statement}", last.occurred_at)


def home_context(user: User) -> dict[str, object]:
    """What a staff member's home page shows: their role's queues, and the figures they may see."""
    groups = set(user.groups.values_list("name", flat=True))
    role = "Superuser" if user.is_superuser else " and ".join(sorted(groups & {FINANCE, SUPPORT})) or "Staff"
    context: dict[str, object] = {"role": role, "queues": queue_counts(queues_for(user, groups))}
    if all(user.has_perm(p) for p in ("payments.view_payment", "revenue.view_payout", "revenue.view_platformfee")):
        context["volumes"] = volumes()
    if user.has_perm("revenue.view_ledgeraccount"):
        context["cash"] = cash_check()
    if user.has_perm("clickpesa.view_webhookevent"):
        # Acknowledged webhooks whose money has not moved yet: a settler that is down shows here first.
        context["settling"] = inbox.backlog()
    return context
