"""The ledger service: the only code that moves money.

`ledger_post` writes one balanced transaction under an idempotency key and updates the
cached balances of the accounts that keep one; `ledger_post_many` does the same for many
transactions in a few statements (the webhook settler's batches). PostgreSQL re-checks everything at commit
(see migration `ledger_invariants`); the checks here exist to give a clear error first.
"""

from __future__ import annotations

import hashlib
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Case, F, Q, QuerySet, Sum, When
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.display import day_start, local_day
from core.errors import BlinnoError
from core.money import round_money
from core.upsert import insert_all_on_conflict, insert_rows
from core.users import User

from .models import Deposit, LedgerAccount, LedgerAccountDay, LedgerAuditRun, LedgerEntry, LedgerTransaction, Payout

Kind = LedgerAccount.Kind
Direction = LedgerEntry.Direction

DEBIT_POSITIVE = Case(When(direction=Direction.DEBIT, then=F("amount")), default=-F("amount"))
"""An entry's amount signed debit-positive: summed, an account's debits less its credits."""


class LedgerError(BlinnoError):
    code = "ledger_error"


class UnbalancedTransaction(LedgerError):
    code = "unbalanced"


class IdempotencyConflict(LedgerError):
    """The key was used before for different entries: never a silent success."""

    code = "idempotency_conflict"


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"


@dataclass(frozen=True)
class Posting:
    """One line of a transaction to be posted."""

    account: LedgerAccount
    direction: str
    amount: Decimal


def debit(account: LedgerAccount, amount: Decimal) -> Posting:
    return Posting(account, Direction.DEBIT, amount)


def credit(account: LedgerAccount, amount: Decimal) -> Posting:
    return Posting(account, Direction.CREDIT, amount)


def signed_on_normal_side(account: LedgerAccount, direction: str, amount: Decimal) -> Decimal:
    """How an entry moves the account's balance as people read it (positive = grows)."""
    grows = (direction == Direction.DEBIT) == account.is_debit_normal
    return amount if grows else -amount


def _fingerprint(kind: str, postings: Sequence[Posting]) -> str:
    lines = sorted(f"{p.account.pk}:{p.direction}:{round_money(p.amount)}" for p in postings)
    return hashlib.sha256("|".join([kind, *lines]).encode()).hexdigest()


def _validate(postings: Sequence[Posting]) -> None:
    if len(postings) < 2:
        raise UnbalancedTransaction("A ledger transaction needs at least two entries.")
    net: dict[str, Decimal] = defaultdict(Decimal)
    for p in postings:
        if p.amount <= 0 or round_money(p.amount) != p.amount:
            raise LedgerError(f"Entry amounts must be positive with at most 2 decimals, got {p.amount}.")
        net[p.account.currency] += p.amount if p.direction == Direction.DEBIT else -p.amount
    unbalanced = {cur: total for cur, total in net.items() if total != 0}
    if unbalanced:
        raise UnbalancedTransaction(f"Debits and credits differ: {unbalanced}.")


@dataclass(frozen=True)
class Post:
    """One transaction to post: its kind, idempotency key, lines and what it belongs to."""

    kind: str
    idempotency_key: str
    postings: Sequence[Posting]
    memo: str = ""
    payment_id: int | None = None
    payout: Payout | None = None
    deposit: Deposit | None = None
    posted_by: User | None = None


def ledger_post(
    *,
    kind: str,
    idempotency_key: str,
    postings: Sequence[Posting],
    memo: str = "",
    payment_id: int | None = None,
    payout: Payout | None = None,
    deposit: Deposit | None = None,
    posted_by: User | None = None,
) -> tuple[LedgerTransaction, bool]:
    """Post a balanced transaction once per key; return it and whether this call created it.

    Reposting a key with the same entries returns the first transaction and changes nothing;
    with different entries it raises IdempotencyConflict. See :func:`ledger_post_many`.
    """
    post = Post(kind, idempotency_key, postings, memo, payment_id, payout, deposit, posted_by)
    return ledger_post_many([post])[0]


def ledger_post_many(posts: Sequence[Post]) -> list[tuple[LedgerTransaction, bool]]:
    """Post balanced transactions once per key, in a few statements whatever their number.

    Returns, in order, each transaction and whether this call created it. The transaction
    rows go in first in one ``INSERT ... ON CONFLICT DO NOTHING`` with the unique key as the
    arbiter (a concurrent post of the same key waits for the first to commit, then finds
    it); a key used before is read back, and raises IdempotencyConflict if its entries
    differ. The new transactions' entries go in with one insert, and the cached balances
    are locked in account-id order (so concurrent posts cannot deadlock each other) and
    moved by one update. A creator balance that would go negative raises InsufficientFunds,
    and this function's savepoint takes the transaction rows back with everything else.
    Only posts that take money out of a creator's account can be refused that way; others
    run in the caller's transaction without a savepoint (two round trips fewer).
    """
    keys = [post.idempotency_key for post in posts]
    if len(set(keys)) != len(keys):
        raise LedgerError("One call cannot post an idempotency key twice.")
    fingerprints = []
    for post in posts:
        _validate(post.postings)
        fingerprints.append(_fingerprint(post.kind, post.postings))
    created: dict[str, LedgerTransaction] = {}
    with transaction.atomic(savepoint=any(_may_overdraw(post.postings) for post in posts)):
        rows = [
            LedgerTransaction(
                kind=post.kind,
                idempotency_key=post.idempotency_key,
                fingerprint=fingerprint,
                payment_id=post.payment_id,
                payout=post.payout,
                deposit=post.deposit,
                memo=post.memo[:500],
                posted_by=post.posted_by,
            )
            for post, fingerprint in zip(posts, fingerprints, strict=True)
        ]
        created = {
            txn.idempotency_key: txn
            for txn in insert_all_on_conflict(rows, on_conflict="ON CONFLICT (idempotency_key) DO NOTHING")
        }
        if created:
            _apply([(created[p.idempotency_key], p.postings) for p in posts if p.idempotency_key in created])
    # Keys used before. Outside the block: without a savepoint an error raised inside it would doom the
    # caller's transaction, and a repeated key wrote nothing.
    repeated = [key for key in keys if key not in created]
    found = {txn.idempotency_key: txn for txn in LedgerTransaction.objects.filter(idempotency_key__in=repeated)}
    results = []
    for key, fingerprint in zip(keys, fingerprints, strict=True):
        if key in created:
            results.append((created[key], True))
            continue
        if found[key].fingerprint != fingerprint:
            raise IdempotencyConflict(f"Idempotency key {key!r} was already used for different entries.")
        results.append((found[key], False))
    return results


def _may_overdraw(postings: Sequence[Posting]) -> bool:
    return any(
        p.account.kind in LedgerAccount.CREATOR_KINDS and signed_on_normal_side(p.account, p.direction, p.amount) < 0
        for p in postings
    )


def _apply(new: Sequence[tuple[LedgerTransaction, Sequence[Posting]]]) -> None:
    """Write new transactions' entries and move the cached balances (InsufficientFunds before the first entry)."""
    deltas: dict[int, Decimal] = defaultdict(Decimal)
    accounts = {p.account.pk: p.account for _, postings in new for p in postings}
    for _, postings in new:
        for p in postings:
            if p.account.caches_balance:
                deltas[p.account.pk] += signed_on_normal_side(p.account, p.direction, p.amount)
    locked = dict(
        LedgerAccount.objects.select_for_update().filter(pk__in=deltas).order_by("pk").values_list("pk", "balance")
    )
    for pk, delta in deltas.items():
        account = accounts[pk]
        if account.kind in LedgerAccount.CREATOR_KINDS and locked[pk] + delta < 0:
            raise InsufficientFunds(
                f"{account} holds {locked[pk]}; cannot move {-delta} out of it.",
            )

    now = timezone.now()
    insert_rows(
        LedgerEntry,
        ("transaction", "account", "direction", "amount", "created_at"),
        [(txn.pk, p.account.pk, p.direction, p.amount, now) for txn, postings in new for p in postings],
    )
    if deltas:
        # One array each of ids and amounts: the statement's text is the same for any number of accounts.
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {LedgerAccount._meta.db_table} AS a SET balance = a.balance + d.delta
                  FROM unnest(%s::bigint[], %s::numeric[]) AS d(id, delta)
                 WHERE a.id = d.id
                """,  # noqa: S608 - the table name is the model's
                [list(deltas), list(deltas.values())],
            )


class AccountBook:
    """The accounts one posting needs, fetched (and created if missing) in one round trip."""

    def __init__(self, accounts: Iterable[LedgerAccount]) -> None:
        self._by_key = {(a.kind, a.creator_id): a for a in accounts}

    def creator(self, creator_id: int, kind: str) -> LedgerAccount:
        return self._by_key[(kind, creator_id)]

    def platform(self, kind: str) -> LedgerAccount:
        return self._by_key[(kind, None)]


def account_book(
    currency: str,
    *,
    creator_ids: Iterable[int] = (),
    creator_kinds: Iterable[str] = LedgerAccount.CREATOR_KINDS,
    platform_kinds: Iterable[str] = (),
) -> AccountBook:
    """Fetch the named accounts in `currency`, creating any that do not exist yet."""
    creator_ids, creator_kinds, platform_kinds = set(creator_ids), set(creator_kinds), set(platform_kinds)
    wanted = {(k, c) for c in creator_ids for k in creator_kinds} | {(k, None) for k in platform_kinds}
    query = Q(creator__isnull=True, kind__in=platform_kinds)
    if creator_ids:
        query |= Q(creator_id__in=creator_ids, kind__in=creator_kinds)
    found = list(LedgerAccount.objects.filter(query, currency=currency))
    missing = wanted - {(a.kind, a.creator_id) for a in found}
    if missing:
        LedgerAccount.objects.bulk_create(
            [LedgerAccount(kind=k, creator_id=c, currency=currency) for k, c in missing],
            ignore_conflicts=True,
        )
        found = list(LedgerAccount.objects.filter(query, currency=currency))
    return AccountBook(found)


def lock_receivables(book: AccountBook, creator_ids: Iterable[int]) -> dict[int, Decimal]:
    """Lock the creators' receivable rows (id order) and return what each owes, read under the lock.

    A receivable is each creator's first lock: every path that reads one to decide a posting
    (capture, release, reversal, payout request) takes it before any other account of the
    creator, so two of them never wait on each other in opposite orders. Reading under the lock
    is what recovers a debt exactly once when earnings arrive concurrently.
    """
    accounts = {book.creator(c, Kind.CREATOR_RECEIVABLE).pk: c for c in creator_ids}
    rows = LedgerAccount.objects.select_for_update().filter(pk__in=accounts).order_by("pk").values_list("pk", "balance")
    return {accounts[pk]: balance for pk, balance in rows}


def account_balance(account: LedgerAccount) -> Decimal:
    """The balance on the account's normal side: the cache, or the journal when uncached."""
    if account.caches_balance:
        return account.balance
    return _journal_balance(account, before=None)


def entries_balance(account: LedgerAccount) -> Decimal:
    """The balance recomputed from every entry of the journal, on the account's normal side."""
    return _normal_side(account, _net(account.entries.all()))


def balance_as_of(account: LedgerAccount, at: datetime) -> Decimal:
    """The account's balance at the instant ``at`` (every entry posted before it), on its normal side.

    An index-only scan of ``ledger_entry_account_time`` over this account's entries up to
    ``at``, from its last closed day when it has one (platform accounts): never a scan of the
    journal. A month's opening balance is the balance as of its first instant, its closing
    balance the balance as of the next month's.
    """
    return _journal_balance(account, before=at)


def _journal_balance(account: LedgerAccount, *, before: datetime | None) -> Decimal:
    """Entries before ``before`` (every entry when None): the last closed day's balance plus what followed it."""
    entries = account.entries.all()
    if before is not None:
        entries = entries.filter(created_at__lt=before)
    closed = None
    if not account.caches_balance:
        days = account.days.order_by("-day")
        if before is not None:
            days = days.filter(day__lt=local_day(before))
        closed = days.values_list("day", "balance").first()
    if closed is None:
        return _normal_side(account, _net(entries))
    day, balance = closed
    return balance + _normal_side(account, _net(entries.filter(created_at__gte=day_start(day + timedelta(days=1)))))


def _net(entries: QuerySet[LedgerEntry]) -> Decimal:
    """Debits less credits of ``entries``."""
    sums = entries.aggregate(
        debits=Sum("amount", filter=Q(direction=Direction.DEBIT), default=Decimal(0)),
        credits=Sum("amount", filter=Q(direction=Direction.CREDIT), default=Decimal(0)),
    )
    return sums["debits"] - sums["credits"]


def _normal_side(account: LedgerAccount, net: Decimal) -> Decimal:
    return net if account.is_debit_normal else -net


# ---- closed days ---------------------------------------------------------------------

CLOSE_AFTER = timedelta(hours=1)
"""A day is closed an hour after its midnight. An entry is stamped when its transaction writes
it and seen when that transaction commits; the money paths' transactions last milliseconds, so
an hour later every entry stamped before midnight is visible."""


def ledger_close_days(*, now: datetime | None = None) -> int:
    """Store the closing balance of every uncached account for each ended day not yet closed.

    Returns the rows written. A day closes CLOSE_AFTER after its end, with one row per day from
    the account's first entry (or its opening) on. A closed day is never rewritten: running twice,
    or on two workers at once, writes each row once. Celery beat runs it hourly.
    """
    last = local_day((now or timezone.now()) - CLOSE_AFTER) - timedelta(days=1)
    written = 0
    for account in LedgerAccount.objects.filter(kind__in=LedgerAccount.UNCACHED_KINDS).order_by("pk"):
        closed = account.days.order_by("-day").values_list("day", "balance").first()
        if closed is not None:
            first, balance = closed[0] + timedelta(days=1), closed[1]
        else:
            oldest = account.entries.order_by("created_at").values_list("created_at", flat=True).first()
            first, balance = local_day(min(account.created_at, oldest or account.created_at)), Decimal(0)
        if first > last:
            continue
        nets = dict(
            account.entries.filter(created_at__gte=day_start(first), created_at__lt=day_start(last + timedelta(days=1)))
            .annotate(local_day=TruncDate("created_at", tzinfo=timezone.get_default_timezone()))
            .values("local_day")
            .annotate(net=Sum(DEBIT_POSITIVE))
            .order_by()
            .values_list("local_day", "net")
        )
        rows = []
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            balance += _normal_side(account, nets.get(day, Decimal(0)))
            rows.append(LedgerAccountDay(account=account, day=day, balance=balance))
        written += len(insert_all_on_conflict(rows, on_conflict="ON CONFLICT (account_id, day) DO NOTHING"))
    return written


def ledger_reopen_days(*, since: date) -> int:
    """Forget the closed days from ``since`` on (to close them again from the journal); returns how many."""
    deleted, _ = LedgerAccountDay.objects.filter(day__gte=since).delete()
    return deleted


def _closed_days_differences() -> list[dict[str, str]]:
    """Each account's last closed day against the journal up to that day's end (the audit's third check)."""
    latest = LedgerAccountDay.objects.select_related("account").order_by("account_id", "-day").distinct("account_id")
    differences = []
    for closed in latest:
        account = closed.account
        entries = account.entries.filter(created_at__lt=day_start(closed.day + timedelta(days=1)))
        expected = _normal_side(account, _net(entries))
        if closed.balance != expected:
            differences.append(
                {
                    "problem": "closed day differs from entries",
                    "account": str(account.pk),
                    "kind": account.kind,
                    "currency": account.currency,
                    "day": closed.day.isoformat(),
                    "closed": str(closed.balance),
                    "entries": str(expected),
                }
            )
    return differences


@dataclass(frozen=True)
class TrialBalanceLine:
    """One account in a trial balance: its balance before the moment, on the side it falls."""

    account: LedgerAccount
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class TrialBalance:
    """Every account with a balance at ``at``, and the debit and credit totals per currency."""

    at: datetime
    lines: list[TrialBalanceLine]
    totals: dict[str, tuple[Decimal, Decimal]]

    @property
    def balanced(self) -> bool:
        return all(debits == credits for debits, credits in self.totals.values())


def trial_balance(at: datetime) -> TrialBalance:
    """Every account's balance at the instant ``at``, from the journal, one grouped query.

    A net debit balance goes in the debit column, a net credit one in the credit column, so
    debits equal credits per currency whenever every transaction balanced (the ledger's first
    invariant). Accounts whose entries net to zero are left out. Platform accounts come first.
    """
    rows = (
        LedgerEntry.objects.filter(created_at__lt=at)
        .values("account_id")
        .annotate(
            net=Sum(DEBIT_POSITIVE),
        )
        .exclude(net=0)
    )
    nets = {row["account_id"]: row["net"] for row in rows}
    accounts = LedgerAccount.objects.select_related("creator").filter(pk__in=nets)
    ordered = sorted(accounts, key=lambda a: (a.currency, a.creator_id is not None, a.creator_id or 0, a.kind))
    lines = []
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for account in ordered:
        net = nets[account.pk]
        line = TrialBalanceLine(account, max(net, Decimal(0)), max(-net, Decimal(0)))
        lines.append(line)
        debits, credits = totals.get(account.currency, (Decimal(0), Decimal(0)))
        totals[account.currency] = (debits + line.debit, credits + line.credit)
    return TrialBalance(at=at, lines=lines, totals=totals)


def ledger_audit(*, record: bool = True) -> LedgerAuditRun:
    """Recompute every cached balance from its entries, re-check every transaction balances and each
    platform account's last closed day.

    Two aggregate scans of the journal, whatever its size, and one index scan per platform
    account. The verdict is stored (unless `record` is false) for the ledger page, metrics and
    the nightly alert.
    """
    started = time.monotonic()
    differences: list[dict[str, str]] = []
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT a.id, a.kind, a.currency, a.creator_id, a.balance,
                   COALESCE(SUM(CASE WHEN e.direction = 'DEBIT' THEN e.amount ELSE -e.amount END), 0)
            FROM revenue_ledgeraccount a
            LEFT JOIN revenue_ledgerentry e ON e.account_id = a.id
            WHERE a.kind <> ALL(%s)
            GROUP BY a.id
            """,
            [[str(k) for k in LedgerAccount.UNCACHED_KINDS]],
        )
        rows = cursor.fetchall()
        for pk, kind, currency, creator_id, cached, net in rows:
            expected = net if kind in LedgerAccount.DEBIT_NORMAL_KINDS else -net
            if cached != expected:
                differences.append(
                    {
                        "problem": "cached balance differs from entries",
                        "account": str(pk),
                        "kind": kind,
                        "currency": currency,
                        "creator": str(creator_id or ""),
                        "cached": str(cached),
                        "entries": str(expected),
                    }
                )
        cursor.execute(
            """
            SELECT e.transaction_id, a.currency,
                   SUM(CASE WHEN e.direction = 'DEBIT' THEN e.amount ELSE -e.amount END)
            FROM revenue_ledgerentry e JOIN revenue_ledgeraccount a ON a.id = e.account_id
            GROUP BY e.transaction_id, a.currency
            HAVING SUM(CASE WHEN e.direction = 'DEBIT' THEN e.amount ELSE -e.amount END) <> 0
            """
        )
        for txn_id, currency, net in cursor.fetchall():
            differences.append(
                {
                    "problem": "transaction does not balance",
                    "transaction": str(txn_id),
                    "currency": currency,
                    "net": str(net),
                }
            )
        cursor.execute("SELECT COUNT(*) FROM revenue_ledgertransaction")
        (transactions,) = cursor.fetchone()
    differences.extend(_closed_days_differences())
    run = LedgerAuditRun(
        ok=not differences,
        accounts_checked=len(rows),
        transactions_checked=transactions,
        differences=differences,
        duration_seconds=round(time.monotonic() - started, 3),
    )
    if record:
        run.save()
    return run
