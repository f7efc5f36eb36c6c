"""A creator's monthly statement, read from the journal: opening balance, every movement, closing balance.

The balance is everything Blinno owes the creator in one currency: pending, available and in
flight together, less what the creator owes Blinno (a receivable left by a reversed sale). Each
ledger transaction that touched those accounts in the month is one line,
its amount the net change it made; so the closing balance is the opening balance plus the lines,
and both equal the journal (:func:`revenue.ledger.balance_as_of`). A hold ending or a payout
request moves money between the creator's own accounts: such a line changes the balance only by
the tax withheld. Sales carry their gross and Blinno's fee from the fee rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Q
from django.utils import timezone

from core.money import Currency
from core.users import User

from .ledger import balance_as_of
from .models import LedgerAccount, LedgerEntry, LedgerTransaction, PlatformFee
from .reports import month_bounds

TxnKind = LedgerTransaction.Kind


class Line:
    """What a statement line records; its label is chosen in the reader's language when written out."""

    SALE = "sale"
    RELEASE = "release"
    PAYOUT = "payout"
    PAYOUT_PAID = "payout_paid"
    PAYOUT_RETURNED = "payout_returned"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"
    RECOVERY = "recovery"
    OTHER = "other"


_LINE_OF_KIND: dict[str, str] = {
    TxnKind.PAYMENT_CAPTURE: Line.SALE,
    TxnKind.EARNINGS_RELEASE: Line.RELEASE,
    TxnKind.PAYOUT_RESERVE: Line.PAYOUT,
    TxnKind.PAYOUT_SETTLE: Line.PAYOUT_PAID,
    TxnKind.PAYOUT_RETURN: Line.PAYOUT_RETURNED,
    TxnKind.ADJUSTMENT: Line.ADJUSTMENT,
    TxnKind.PAYMENT_REVERSAL: Line.REVERSAL,
    TxnKind.RECEIVABLE_RECOVERY: Line.RECOVERY,
}


@dataclass(frozen=True)
class StatementLine:
    """One transaction's effect on the creator's balance; ``sale`` and ``platform_fee`` on sales only."""

    at: datetime
    line: str
    kind_label: str
    reference: str
    detail: str
    amount: Decimal
    balance: Decimal
    sale: Decimal | None = None
    platform_fee: Decimal | None = None
    withholding_tax: Decimal | None = None


@dataclass
class CreatorStatement:
    """A creator's month in one currency. ``closing`` is the journal's balance at the month's end."""

    creator: User
    currency: str
    year: int
    month: int
    start: datetime
    end: datetime
    opening: Decimal
    closing: Decimal
    lines: list[StatementLine] = field(default_factory=list)

    @property
    def period(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def total(self, attribute: str) -> Decimal:
        """The sum of one column over the lines (``sale``, ``platform_fee``, ``withholding_tax``, ``amount``)."""
        return sum((getattr(line, attribute) or Decimal(0) for line in self.lines), Decimal(0))

    def total_of(self, line: str) -> Decimal:
        """The net amount of the lines of one kind (``Line.SALE``, ``Line.PAYOUT_PAID``...)."""
        return sum((x.amount for x in self.lines if x.line == line), Decimal(0))


def creator_statement(creator: User, *, year: int, month: int, currency: str = Currency.TZS) -> CreatorStatement:
    """Build a creator's statement for a calendar month (Tanzania's time) from the journal.

    Queries: the creator's accounts, one balance per account at the month's start and end,
    the month's entries with their transactions and payouts, and the fee rows of its sales.
    """
    start, end = month_bounds(year, month)
    accounts = list(LedgerAccount.objects.filter(creator=creator, currency=currency))
    opening = _owed_to_creator(accounts, start)
    closing = _owed_to_creator(accounts, end)
    statement = CreatorStatement(creator, currency, year, month, start, end, opening, closing)

    entries = (
        LedgerEntry.objects.filter(account__in=accounts, created_at__gte=start, created_at__lt=end)
        .select_related("transaction__payout")
        .order_by("created_at", "id")
    )
    effects: dict[int, Decimal] = defaultdict(Decimal)
    transactions: dict[int, LedgerTransaction] = {}
    for entry in entries:
        sign = 1 if entry.direction == LedgerEntry.Direction.CREDIT else -1
        effects[entry.transaction_id] += sign * entry.amount
        transactions.setdefault(entry.transaction_id, entry.transaction)
    sales = _sales(creator, currency, [t for t in transactions.values() if t.kind == TxnKind.PAYMENT_CAPTURE])

    balance = opening
    labels: dict[str, str] = dict(TxnKind.choices)
    for txn_id, txn in transactions.items():
        amount = effects[txn_id]
        balance += amount
        line = _LINE_OF_KIND.get(txn.kind, Line.OTHER)
        sale, fee, tax, reference, detail = None, None, None, "", txn.memo
        if line == Line.SALE and txn.pk in sales:
            sale, fee, reference = sales[txn.pk]
        payout = txn.payout
        if payout is not None:
            reference = payout.reference
            detail = payout.destination_label
            if line == Line.PAYOUT and payout.withholding_tax:
                tax = payout.withholding_tax
            elif line == Line.PAYOUT_RETURNED:
                detail = f"{payout.get_status_display()}: {detail}"
                if payout.withholding_tax:
                    tax = -payout.withholding_tax
        statement.lines.append(
            StatementLine(
                at=txn.created_at,
                line=line,
                kind_label=labels.get(txn.kind, txn.kind),
                reference=reference,
                detail=detail,
                amount=amount,
                balance=balance,
                sale=sale,
                platform_fee=fee,
                withholding_tax=tax,
            )
        )
    return statement


def _owed_to_creator(accounts: list[LedgerAccount], at: datetime) -> Decimal:
    """What Blinno owes the creator at ``at``: their credit-normal balances less their receivable."""
    return sum((-balance_as_of(a, at) if a.is_debit_normal else balance_as_of(a, at) for a in accounts), Decimal(0))


def _sales(creator: User, currency: str, captures: list[LedgerTransaction]) -> dict[int, tuple[Decimal, Decimal, str]]:
    """Each capture's gross sale and platform fee for this creator, and its order, from the fee rows."""
    if not captures:
        return {}
    orders = dict(
        LedgerTransaction.objects.filter(pk__in=[t.pk for t in captures]).values_list("pk", "payment__order_id")
    )
    rows: dict[int, tuple[Decimal, Decimal]] = defaultdict(lambda: (Decimal(0), Decimal(0)))
    for order_id, subtotal, fee in PlatformFee.objects.filter(
        Q(order_id__in=[o for o in orders.values() if o]), creator=creator, currency=currency
    ).values_list("order_id", "subtotal", "platform_fee"):
        gross, fees = rows[order_id]
        rows[order_id] = (gross + subtotal, fees + fee)
    return {pk: (*rows[order_id], f"#{order_id}") for pk, order_id in orders.items() if order_id in rows}


def statement_month_last() -> tuple[int, int]:
    """The last complete month in Tanzania's time: the one the monthly send covers."""
    today = timezone.localdate()
    return (today.year, today.month - 1) if today.month > 1 else (today.year - 1, 12)
