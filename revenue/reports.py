"""Finance's reports, built from the journal as tables (core.tables writes them as CSV or XLSX).

Periods are calendar days and months in Tanzania's time (settings.TIME_ZONE): "as of 31 March"
means every entry posted before 1 April 00:00 EAT.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Case, Count, F, Q, Sum, When
from django.db.models.functions import TruncMonth

from core.display import day_start
from core.tables import Table

from .ledger import DEBIT_POSITIVE, TrialBalance, balance_as_of, trial_balance
from .models import LedgerAccount, LedgerEntry, LedgerTransaction, PlatformFee, TransactionType

Kind = LedgerAccount.Kind
TxnKind = LedgerTransaction.Kind
Direction = LedgerEntry.Direction


def day_end(day: date) -> datetime:
    """The first instant after ``day`` in local time: the moment a balance "as of ``day``" is taken."""
    return day_start(day + timedelta(days=1))


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """The first instant of the month and of the next one, local time."""
    start = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return day_start(start), day_start(following)


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


def _journal_by_month(
    start: datetime, end: datetime, kinds: Sequence[str]
) -> dict[tuple[date, str, str, str], Decimal]:
    """Debits less credits per (month, account kind, transaction kind, currency) over platform accounts."""
    rows = (
        LedgerEntry.objects.filter(created_at__gte=start, created_at__lt=end, account__kind__in=kinds)
        .annotate(month=TruncMonth("created_at"))
        .values("month", "account__kind", "transaction__kind", "account__currency")
        .annotate(net=Sum(DEBIT_POSITIVE))
    )
    return {
        (r["month"].date(), r["account__kind"], r["transaction__kind"], r["account__currency"]): r["net"] for r in rows
    }


def revenue_report(year: int) -> Table:
    """Blinno's revenue per month of ``year``, per currency: sales and platform fees per transaction
    type, then the month's platform fees, processing fees and VAT as booked, ClickPesa's payout
    fees and net revenue.

    Sales and fees per type come from the fee rows collected in the month (gross: VAT included);
    the month's lines from the journal (captures less reversals), so net revenue is exactly the
    month's credits to platform and processing fees less its payout fees.
    """
    start, _ = month_bounds(year, 1)
    _, end = month_bounds(year, 12)
    fees = (
        PlatformFee.objects.filter(collected_at__gte=start, collected_at__lt=end, status=PlatformFee.Status.COLLECTED)
        .annotate(month=TruncMonth("collected_at"))
        .values("month", "currency", "transaction_type")
        .annotate(sales=Sum("subtotal"), gross=Sum("platform_fee"))
        .order_by("month", "currency", "transaction_type")
    )
    kinds = [Kind.PROCESSING_FEES, Kind.PAYOUT_FEES, Kind.VAT_PAYABLE, Kind.PLATFORM_FEES]
    journal = _journal_by_month(start, end, kinds)
    by_month: dict[tuple[date, str], list[dict[str, Any]]] = defaultdict(list)
    for row in fees:
        by_month[(row["month"].date(), row["currency"])].append(dict(row))
    for month, _kind, _txn, currency in journal:
        by_month.setdefault((month, currency), [])

    types = dict(TransactionType.choices)
    table = Table(title=f"Revenue {year}", headers=["month", "currency", "line", "transaction_type", "sales", "fees"])
    for (month, currency), rows in sorted(by_month.items()):
        label = month.strftime("%Y-%m")
        booked: dict[str, Decimal] = defaultdict(Decimal)
        for (m, kind, txn, c), value in journal.items():
            # Fees and VAT are credited, so their revenue is minus debits-less-credits; a tax
            # remittance pays VAT, it does not un-book it.
            if (m, c) == (month, currency) and txn != TxnKind.TAX_REMITTANCE:
                booked[kind] -= value
        for fee_row in rows:
            transaction_type = types.get(fee_row["transaction_type"], fee_row["transaction_type"])
            table.rows.append(
                [label, currency, "Platform fees (VAT included)", transaction_type, fee_row["sales"], fee_row["gross"]]
            )
        net = booked[Kind.PLATFORM_FEES] + booked[Kind.PROCESSING_FEES] + booked[Kind.PAYOUT_FEES]
        table.rows.extend(
            [
                [label, currency, "Platform fees, net of VAT", "", None, booked[Kind.PLATFORM_FEES]],
                [label, currency, "Processing fees, net of VAT", "", None, booked[Kind.PROCESSING_FEES]],
                [label, currency, "VAT on fees", "", None, booked[Kind.VAT_PAYABLE]],
                [label, currency, "ClickPesa payout fees", "", None, booked[Kind.PAYOUT_FEES]],
                [label, currency, "Net revenue", "", None, net],
            ]
        )
    return table


@dataclass(frozen=True)
class TaxDue:
    """One tax in one currency over a month: booked, returned, remitted, and what is due at its end."""

    tax: str
    currency: str
    booked: Decimal
    returned: Decimal
    remitted: Decimal
    due: Decimal


@dataclass(frozen=True)
class CreatorWithholding:
    creator_id: int
    username: str
    currency: str
    payouts: int
    withheld: Decimal


@dataclass(frozen=True)
class TaxReport:
    year: int
    month: int
    taxes: list[TaxDue]
    by_creator: list[CreatorWithholding]

    def table(self) -> Table:
        """Both parts as one table: the taxes, then WHT per creator."""
        table = Table(
            title=f"Tax {self.year:04d}-{self.month:02d}",
            headers=["tax", "currency", "creator", "payouts", "booked", "returned", "remitted", "due at month end"],
        )
        for t in self.taxes:
            table.rows.append([t.tax, t.currency, "", None, t.booked, t.returned, t.remitted, t.due])
        for c in self.by_creator:
            table.rows.append(["WHT", c.currency, c.username, c.payouts, c.withheld, None, None, None])
        return table


def tax_report(year: int, month: int) -> TaxReport:
    """VAT and WHT for a month from the journal: booked (captures, payout requests), returned
    (payouts that came back, captures reversed), remitted to the authority, and due at the month's end; and the
    WHT withheld per creator (net of returns)."""
    start, end = month_bounds(year, month)
    journal = _journal_by_month(start, end, [Kind.VAT_PAYABLE, Kind.WHT_PAYABLE])
    taxes = []
    for account in LedgerAccount.objects.filter(kind__in=[Kind.VAT_PAYABLE, Kind.WHT_PAYABLE]).order_by(
        "kind", "currency"
    ):
        flows: dict[str, Decimal] = defaultdict(Decimal)
        for (_m, kind, txn, currency), value in journal.items():
            if (kind, currency) == (account.kind, account.currency):
                flows[txn] += value
        remitted = flows.pop(TxnKind.TAX_REMITTANCE, Decimal(0))
        # Given back: WHT of payouts that came back, VAT of captures ClickPesa reversed.
        returned = flows.pop(TxnKind.PAYOUT_RETURN, Decimal(0)) + flows.pop(TxnKind.PAYMENT_REVERSAL, Decimal(0))
        taxes.append(
            TaxDue(
                tax="VAT" if account.kind == Kind.VAT_PAYABLE else "WHT",
                currency=account.currency,
                booked=-sum(flows.values(), Decimal(0)),
                returned=returned,
                remitted=remitted,
                due=balance_as_of(account, end),
            )
        )
    rows = (
        LedgerEntry.objects.filter(created_at__gte=start, created_at__lt=end, account__kind=Kind.WHT_PAYABLE)
        .values("transaction__payout__creator_id", "transaction__payout__creator__username", "account__currency")
        .annotate(
            withheld=Sum(Case(When(direction=Direction.CREDIT, then=F("amount")), default=-F("amount"))),
            payouts=Count("transaction__payout", filter=Q(direction=Direction.CREDIT), distinct=True),
        )
        .order_by("transaction__payout__creator__username")
    )
    by_creator = [
        CreatorWithholding(
            r["transaction__payout__creator_id"],
            r["transaction__payout__creator__username"],
            r["account__currency"],
            r["payouts"],
            r["withheld"],
        )
        for r in rows
        if r["transaction__payout__creator_id"] is not None
    ]
    return TaxReport(year, month, taxes, by_creator)
