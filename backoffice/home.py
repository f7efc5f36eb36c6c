"""The staff home page's figures: work queue counts, money volumes by day, ClickPesa's
balance against our books, and the webhooks acknowledged but not yet settled. Reads only; a
fixed number of queries whatever the table sizes."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial

from django.core.cache import cache
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from clickpesa import inbox
from clickpesa.client import ClickPesaClient, ClickPesaError, credentials_configured
from core.money import Currency
from core.queues import COUNT_CAP, WorkQueue, queues_for
from core.users import User
from payments.models import Payment
from revenue.ledger import account_balance, balance_as_of
from revenue.models import LedgerAccount, Payout, PlatformFee

from .models import StatementImport, StatementLine
from .queues import FINANCE, SUPPORT

logger = logging.getLogger(__name__)

DAYS = 30
BALANCE_CACHE_SECONDS = 300  # ClickPesa's balance is asked at most every five minutes, not per page view


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


def _by_day(rows: QuerySet, moment: str, amount: str, *, first: date, today: date, label: str, currency: str) -> Volume:
    """Sum ``amount`` per local day of ``moment`` from ``first`` to ``today`` (days with nothing are zero)."""
    local = timezone.get_current_timezone()
    found = {
        row["day"]: (row["total"], row["n"])
        for row in rows.annotate(day=TruncDate(moment, tzinfo=local))
        .values("day")
        .annotate(total=Sum(amount), n=Count("pk"))
        .order_by()
    }
    peak = max((total for total, _ in found.values()), default=Decimal(0))
    days = []
    for offset in range((today - first).days + 1):
        day = first + timedelta(days=offset)
        total, n = found.get(day, (Decimal(0), 0))
        days.append(Day(day, total, n, int(total * 100 / peak) if peak else 0))
    return Volume(label, currency, days)


def volumes(*, currency: str = Currency.TZS, now: datetime | None = None) -> list[Volume]:
    """Payments collected, payouts paid and platform fees earned per day over the last 30 days (three queries)."""
    today = timezone.localdate(now or timezone.now())
    first = today - timedelta(days=DAYS - 1)
    start = datetime.combine(first, datetime.min.time(), tzinfo=timezone.get_current_timezone())
    window = partial(_by_day, first=first, today=today, currency=currency)
    return [
        window(
            Payment.objects.filter(status=Payment.Status.COMPLETED, currency=currency, completed_at__gte=start),
            "completed_at",
            "amount",
            label="Payments collected",
        ),
        window(
            Payout.objects.filter(status=Payout.Status.PAID, currency=currency, paid_at__gte=start),
            "paid_at",
            "amount",
            label="Payouts paid",
        ),
        window(
            PlatformFee.objects.filter(collected_at__gte=start, currency=currency).exclude(
                status=PlatformFee.Status.REFUNDED
            ),
            "collected_at",
            "platform_fee",
            label="Platform fees earned",
        ),
    ]


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
    if cached is not None:
        return Decimal(cached)
    try:
        with ClickPesaClient() as client:
            balances = client.balance()
    except ClickPesaError as exc:
        logger.warning("ClickPesa balance unavailable: %s", exc)
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
