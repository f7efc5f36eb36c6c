"""Scenario 4: the back-office at scale.

Loads, with PostgreSQL's COPY (psycopg's ``cursor.copy``), ``scale`` times 1,000,000 paid
two-creator orders with their payments, 2,000,000 fee rows and 1,000,000 balanced
``PAYMENT_CAPTURE`` transactions of five entries each (5,000,000 ledger entries: gateway cash,
two creators, platform fees, processing fees), plus 1,000,000 payouts in every status; then
times the payout and fee changelists (with filters and search), a payout page, the storefront
API's ``GET /api/v1/creators/{id}/balance`` (with an API key) and ``audit_ledger``, with a
superuser through Django's test client in this process (server time: the view, its queries and
its template, no network).

Loading row by row through the services would take hours, so the rows are written directly:
amounts and fees come from the same functions the services use, every transaction balances
and the creators' cached balances are set to the sum of their entries; ``audit_ledger`` then
recomputes both from the journal. The ledger's deferred balance triggers are disabled for the
COPY only (they would queue one check per row until commit) and enabled again straight after.
Payouts here are rows for the back-office to list: they carry no journal rows of their own.

The load happens in two steps, 1 % of the rows first, so that each page's query count is
measured on a small and on the full table: it must not grow with the table.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

from django.core.management import call_command
from django.db import connection, models, reset_queries
from django.test import Client
from django.test.utils import CaptureQueriesContext
from psycopg.types.json import Jsonb

from accounts.models import User
from api.models import Scope, StorefrontKey
from backoffice.home import volumes_refresh
from payments.models import Order, Payment
from revenue.fees import platform_fee_quote, processing_fee
from revenue.ledger import account_book, ledger_close_days, ledger_reopen_days
from revenue.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payout, PlatformFee, TransactionType

from .table import percentile

CURRENCY = "TZS"
FULL_ORDERS = 1_000_000
FULL_PAYOUTS = 1_000_000
FULL_CREATORS = 10_000
REPEATS = 40
RECONCILED_AFTER = timedelta(days=14)
FIRST_STEP = 0.01
BALANCE_TRIGGERS = (
    ("revenue_ledgerentry", "ledger_entry_balanced"),
    ("revenue_ledgertransaction", "ledger_transaction_has_entries"),
    # It forgets the last passed check before each COPY of entries; with the checks off there
    # is nothing to forget.
    ("revenue_ledgerentry", "ledger_entry_forgets_check"),
)
PAYOUT_STATUSES = {
    Payout.Status.PAID: 80,
    Payout.Status.PENDING: 2,
    Payout.Status.PROCESSING: 3,
    Payout.Status.FAILED: 5,
    Payout.Status.REFUNDED: 3,
    Payout.Status.REVERSED: 4,
    Payout.Status.CANCELLED: 3,
}
NAMES = ("Asha", "Baraka", "Neema", "Juma", "Zawadi", "Imani", "Rehema", "Hamisi", "Upendo", "Faraji")
NOW = datetime.now(UTC)
Kind = LedgerAccount.Kind


class Copier:
    """COPY rows into a model's table: the named fields per row, every other column at its default."""

    def __init__(self, model: type[models.Model], fields: list[str]) -> None:
        self.model = model
        self.table = model._meta.db_table
        given = [model._meta.get_field(name) for name in fields]
        rest = [f for f in model._meta.concrete_fields if f.name not in fields and not f.primary_key]
        missing = [f.name for f in rest if f.get_default() is None and not f.null]
        if missing:
            raise ValueError(f"{model.__name__}: give a value for {', '.join(missing)}")
        self.columns = ["id", *(f.column for f in given), *(f.column for f in rest)]
        self.constants = tuple(self._prepared(f, f.get_default()) for f in rest)

    @staticmethod
    def _prepared(field: models.Field, value: object) -> object:
        if isinstance(field, models.JSONField):
            return Jsonb(value)
        return field.get_db_prep_save(value, connection)

    def next_id(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {self.table}")  # noqa: S608 - a model's table
            return cursor.fetchone()[0]

    def copy(self, rows: Iterable[tuple]) -> int:
        """Write (id, *fields) tuples; move the id sequence past them; return how many."""
        count = 0
        columns = ", ".join(self.columns)
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(f"COPY {self.table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row + self.constants)
                    count += 1
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{self.table}', 'id'), (SELECT MAX(id) FROM {self.table}))"  # noqa: S608
            )
        return count


class Loader:
    """Generates and copies the data set, in steps."""

    def __init__(self, scale: float) -> None:
        self.rng = random.Random(4)
        self.creators = self._creators(max(100, int(FULL_CREATORS * scale)))
        self.buyers = list(User.objects.filter(is_creator=False, is_staff=False).values_list("pk", flat=True)[:500])
        book = account_book(
            CURRENCY,
            creator_ids=self.creators,
            platform_kinds=[Kind.GATEWAY_CASH, Kind.PLATFORM_FEES, Kind.PROCESSING_FEES],
        )
        self.available = {c: book.creator(c, Kind.CREATOR_AVAILABLE).pk for c in self.creators}
        self.creator_accounts = set(self.available.values())
        self.cash = book.platform(Kind.GATEWAY_CASH).pk
        self.platform_fees = book.platform(Kind.PLATFORM_FEES).pk
        self.processing_fees = book.platform(Kind.PROCESSING_FEES).pk
        self.payouts_of: dict[int, list[tuple[int, str]]] = defaultdict(list)
        self.quotes = {
            amount: platform_fee_quote(TransactionType.MARKETPLACE, amount, CURRENCY)
            for amount in (Decimal(a).quantize(Decimal("0.01")) for a in range(5_000, 50_001, 500))
        }
        self.processing_fees_by_subtotal = {
            amount: processing_fee(amount, CURRENCY) for amount in range(10_000, 100_001, 500)
        }

    def _creators(self, count: int) -> list[int]:
        copier = Copier(
            User,
            ["password", "username", "first_name", "last_name", "email", "phone_number", "is_creator", "date_joined"],
        )
        start = copier.next_id()
        copier.copy(
            (
                start + n,
                "!",
                f"scale{n}",
                NAMES[n % len(NAMES)],
                f"Creator{n}",
                f"scale{n}@example.com",
                f"2556{n:08d}",
                True,
                NOW,
            )
            for n in range(count)
        )
        return list(range(start, start + count))

    def _moments(self, count: int) -> list[datetime]:
        """``count`` instants of the last two years, oldest first: rows are written in time order."""
        seconds = sorted(self.rng.randrange(730 * 86400) for _ in range(count))
        return [NOW - timedelta(seconds=s) for s in reversed(seconds)]

    def payouts(self, count: int) -> int:
        copier = Copier(
            Payout,
            [
                "creator",
                "reference",
                "amount",
                "currency",
                "method_kind",
                "method_snapshot",
                "status",
                "gateway_id",
                "gateway_fee",
                "created_at",
                "updated_at",
                "submitted_at",
                "paid_at",
                "returned_at",
                "reconciled_at",
            ],
        )
        start = copier.next_id()
        statuses, weights = list(PAYOUT_STATUSES), list(PAYOUT_STATUSES.values())

        moments = self._moments(count)

        def rows() -> Iterator[tuple]:
            for pk, created in zip(range(start, start + count), moments, strict=True):
                creator = self.rng.choice(self.creators)
                status = self.rng.choices(statuses, weights)[0]
                later = created + timedelta(minutes=self.rng.randrange(1, 600))
                bank = self.rng.random() < 0.1
                submitted = status not in (Payout.Status.PENDING, Payout.Status.CANCELLED)
                returned = status in Payout.RETURNED_STATUSES
                snapshot = {
                    "kind": "BANK_ACCOUNT" if bank else "MOBILE_WALLET",
                    "provider": "CRDB" if bank else "M-Pesa",
                    "account_number": f"2557540{creator % 100000:05d}",
                    "account_name": f"Creator {creator}",
                    "bic": "CORUTZTZ" if bank else "",
                }
                amount = Decimal(self.rng.randrange(5_000, 500_000, 100))
                self.payouts_of[creator].append((pk, status))
                yield (
                    pk,
                    creator,
                    f"SP{pk:010d}",
                    amount,
                    CURRENCY,
                    snapshot["kind"],
                    Jsonb(snapshot),
                    status,
                    f"CPAY{pk}" if submitted else "",
                    Decimal(500) if submitted else None,
                    created,
                    later,
                    created if submitted else None,
                    later if status == Payout.Status.PAID else None,
                    later if returned else None,
                    # Finance reconciles within a fortnight; the recent ones are still to do.
                    later if (status == Payout.Status.PAID or returned) and later < NOW - RECONCILED_AFTER else None,
                )

        return copier.copy(rows())

    def orders(self, count: int) -> None:
        """Paid orders, each with its payment, two fee rows and one five-entry capture transaction."""
        order_copier = Copier(
            Order, ["buyer", "status", "currency", "subtotal", "processing_fee", "total", "created_at", "updated_at"]
        )
        payment_copier = Copier(
            Payment,
            [
                "order",
                "reference",
                "amount",
                "currency",
                "status",
                "channel",
                "created_at",
                "updated_at",
                "completed_at",
            ],
        )
        fee_copier = Copier(
            PlatformFee,
            [
                "order",
                "creator",
                "transaction_type",
                "subtotal",
                "rate",
                "platform_fee",
                "creator_amount",
                "currency",
                "status",
                "payout",
                "payout_status",
                "collected_at",
                "released_at",
                "created_at",
                "updated_at",
            ],
        )
        txn_copier = Copier(
            LedgerTransaction, ["kind", "idempotency_key", "fingerprint", "payment", "memo", "created_at"]
        )
        entry_copier = Copier(LedgerEntry, ["transaction", "account", "direction", "amount", "created_at"])
        first_order, first_payment = order_copier.next_id(), payment_copier.next_id()
        first_fee, first_txn, first_entry = fee_copier.next_id(), txn_copier.next_id(), entry_copier.next_id()

        plans = []
        for n, moment in enumerate(self._moments(count)):
            a, b = self.rng.sample(self.creators, 2)
            amount_a = Decimal(self.rng.randrange(5_000, 50_001, 500)).quantize(Decimal("0.01"))
            amount_b = Decimal(self.rng.randrange(5_000, 50_001, 500)).quantize(Decimal("0.01"))
            plans.append((first_order + n, a, amount_a, b, amount_b, moment))

        def order_rows() -> Iterator[tuple]:
            for pk, _, amount_a, _, amount_b, moment in plans:
                subtotal = amount_a + amount_b
                fee = self.processing_fees_by_subtotal[int(subtotal)]
                buyer = self.rng.choice(self.buyers)
                yield (pk, buyer, Order.Status.PAID, CURRENCY, subtotal, fee, subtotal + fee, moment, moment)

        def payment_rows() -> Iterator[tuple]:
            for n, (order, _, amount_a, _, amount_b, moment) in enumerate(plans):
                total = amount_a + amount_b + self.processing_fees_by_subtotal[int(amount_a + amount_b)]
                pk = first_payment + n
                yield (
                    pk,
                    order,
                    f"S{pk:011d}",
                    total,
                    CURRENCY,
                    Payment.Status.COMPLETED,
                    "M-PESA",
                    moment,
                    moment,
                    moment,
                )

        def fee_rows() -> Iterator[tuple]:
            pk = first_fee
            for order, a, amount_a, b, amount_b, moment in plans:
                for creator, amount in ((a, amount_a), (b, amount_b)):
                    quote = self.quotes[amount]
                    payout, payout_status = self._fee_payout(creator)
                    yield (
                        pk,
                        order,
                        creator,
                        TransactionType.MARKETPLACE,
                        amount,
                        quote.rate,
                        quote.platform_fee,
                        quote.creator_amount,
                        CURRENCY,
                        PlatformFee.Status.COLLECTED,
                        payout,
                        payout_status,
                        moment,
                        moment,
                        moment,
                        moment,
                    )
                    pk += 1

        balances: dict[int, Decimal] = defaultdict(Decimal)

        def txn_rows() -> Iterator[tuple]:
            for n, (order, a, amount_a, b, amount_b, moment) in enumerate(plans):
                payment = first_payment + n
                postings = self._capture(a, amount_a, b, amount_b)
                lines = sorted(f"{account}:{direction}:{amount}" for account, direction, amount in postings)
                fingerprint = hashlib.sha256("|".join(["PAYMENT_CAPTURE", *lines]).encode()).hexdigest()
                yield (
                    first_txn + n,
                    LedgerTransaction.Kind.PAYMENT_CAPTURE,
                    f"payment:{payment}:capture",
                    fingerprint,
                    payment,
                    f"Payment S{payment:011d} for order #{order}",
                    moment,
                )

        def entry_rows() -> Iterator[tuple]:
            pk = first_entry
            for n, (_, a, amount_a, b, amount_b, moment) in enumerate(plans):
                for account, direction, amount in self._capture(a, amount_a, b, amount_b):
                    if account in self.creator_accounts:
                        balances[account] += amount
                    yield (pk, first_txn + n, account, direction, amount, moment)
                    pk += 1

        order_copier.copy(order_rows())
        payment_copier.copy(payment_rows())
        fee_copier.copy(fee_rows())
        with connection.cursor() as cursor:
            for table, trigger in BALANCE_TRIGGERS:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")
        try:
            txn_copier.copy(txn_rows())
            entry_copier.copy(entry_rows())
        finally:
            with connection.cursor() as cursor:
                for table, trigger in BALANCE_TRIGGERS:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
        with connection.cursor() as cursor:
            ids, amounts = zip(*balances.items(), strict=True) if balances else ((), ())
            cursor.execute(
                "UPDATE revenue_ledgeraccount a SET balance = a.balance + d.amount "
                "FROM unnest(%s::bigint[], %s::numeric[]) AS d(id, amount) WHERE a.id = d.id",
                [list(ids), list(amounts)],
            )

    def _fee_payout(self, creator: int) -> tuple[int | None, str]:
        """Most earnings were paid out already: a random payout of the creator carries the fee row."""
        mine = self.payouts_of.get(creator)
        if not mine or self.rng.random() < 0.3:
            return None, PlatformFee.PayoutStatus.PENDING
        payout, status = self.rng.choice(mine)
        if status == Payout.Status.PAID:
            return payout, PlatformFee.PayoutStatus.PAID
        if status in (Payout.Status.PENDING, Payout.Status.PROCESSING):
            return payout, PlatformFee.PayoutStatus.PROCESSING
        return None, PlatformFee.PayoutStatus.PENDING

    def _capture(self, a: int, amount_a: Decimal, b: int, amount_b: Decimal) -> list[tuple[int, str, Decimal]]:
        quote_a, quote_b = self.quotes[amount_a], self.quotes[amount_b]
        fee = self.processing_fees_by_subtotal[int(amount_a + amount_b)]
        debit, credit = LedgerEntry.Direction.DEBIT, LedgerEntry.Direction.CREDIT
        return [
            (self.cash, debit, amount_a + amount_b + fee),
            (self.available[a], credit, quote_a.creator_amount),
            (self.available[b], credit, quote_b.creator_amount),
            (self.platform_fees, credit, quote_a.platform_fee + quote_b.platform_fee),
            (self.processing_fees, credit, fee),
        ]


def _pages(loader: Loader) -> list[tuple[str, str, bool]]:
    """(label, URL, is a changelist) of every timed page, with ids and words taken from the data."""
    payout = Payout.objects.filter(status=Payout.Status.PAID, fee_rows__isnull=False).order_by("-id").first()
    payout = payout or Payout.objects.order_by("-id").first()
    creator = User.objects.get(pk=payout.creator_id)
    # The storefront names the creator by its own id; here, the username.
    User.objects.filter(pk=creator.pk).update(external_id=creator.username)
    day = (NOW - timedelta(days=40)).date()
    month = f"created_at__date__gte={day - timedelta(days=30)}&created_at__date__lte={day}"
    payouts, fees = "/admin/revenue/payout/", "/admin/revenue/platformfee/"
    return [
        ("payouts: all, newest first", payouts, True),
        ("payouts: status FAILED", f"{payouts}?status__exact=FAILED", True),
        (
            "payouts: PAID + bank + not reconciled",
            f"{payouts}?status__exact=PAID&method_kind__exact=BANK_ACCOUNT&reconciled=no",
            True,
        ),
        ("payouts: created in a 30-day range", f"{payouts}?{month}", True),
        ("payouts: one creator", f"{payouts}?creator__id__exact={creator.pk}", True),
        ("payouts: search a reference", f"{payouts}?q={payout.reference}", True),
        ("payouts: search a creator's username", f"{payouts}?q={creator.username}", True),
        ("payouts: page 2", f"{payouts}?p=2", True),
        ("fees: all, with totals", fees, True),
        ("fees: COLLECTED + payout PENDING", f"{fees}?status__exact=COLLECTED&payout_status__exact=PENDING", True),
        ("fees: one creator", f"{fees}?creator__id__exact={creator.pk}", True),
        ("fees: created in a 30-day range", f"{fees}?{month}", True),
        ("fees: search a creator's username", f"{fees}?q={creator.username}", True),
        ("payout page", f"{payouts}{payout.pk}/change/", False),
        ("home page: work queues, volumes, cash (target p95 ≤ 300 ms)", "/admin/", False),
        ("API: GET a creator's balance (target p95 ≤ 20 ms)", f"/api/v1/creators/{creator.username}/balance", False),
    ]


def _measure(client: Client, pages: list[tuple[str, str, bool]], *, repeats: int, api_client: Client) -> list[dict]:
    measured = []
    admin_client = client
    for label, url, changelist in pages:
        client = api_client if url.startswith("/api/") else admin_client
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{label}: {url} answered {response.status_code}")
        reset_queries()  # each request clears the log when it starts; begin from an empty one
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        count = len(queries.captured_queries)  # read now: the next request clears the log
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        measured.append(
            {
                "label": label,
                "url": url,
                "changelist": changelist,
                "queries": count,
                "p50": percentile(times, 0.5),
                "p95": percentile(times, 0.95),
            }
        )
        print(f"  {label}: p95 {measured[-1]['p95']:.1f} ms, {measured[-1]['queries']} queries", flush=True)
    return measured


def _vacuum(tables: Iterable[str]) -> None:
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


def _close() -> float:
    """What Celery beat does every hour on a running service: close the ledger's ended days and
    store the home page's volumes of ended days. Returns the seconds it took.

    The loader writes entries into days already closed by the first step's close, as a backfill
    would: those days are reopened first, as `ledger_close_days --reopen-from` does after one."""
    started = time.monotonic()
    ledger_reopen_days(since=date.min)
    closed, stored = ledger_close_days(), volumes_refresh()
    seconds = time.monotonic() - started
    print(f"  closed {closed} ledger account days, stored {stored} day volumes in {seconds:.1f}s", flush=True)
    return seconds


def _audit() -> dict:
    out, err = StringIO(), StringIO()
    started = time.monotonic()
    try:
        call_command("audit_ledger", stdout=out, stderr=err)
        clean = True
    except SystemExit:
        clean = False
    return {"clean": clean, "seconds": time.monotonic() - started, "output": (out.getvalue() + err.getvalue()).strip()}


LOADED_TABLES = (
    "accounts_user",
    "payments_order",
    "payments_payment",
    "revenue_platformfee",
    "revenue_payout",
    "revenue_ledgertransaction",
    "revenue_ledgerentry",
    "revenue_ledgeraccount",
)


def run(scale: float) -> dict:
    """Load, measure on 1 % and on everything, audit; return the figures."""
    admin = User.objects.create_superuser("bench-admin", "bench-admin@example.com", None)
    client = Client()
    client.force_login(admin)
    # The storefront's client for the API's page: its API key, no session.
    _, key = StorefrontKey.objects.create_key(name="bench-scale", scopes=[Scope.STOREFRONT])
    api_client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}")
    repeats = REPEATS
    total_orders, total_payouts = int(FULL_ORDERS * scale), int(FULL_PAYOUTS * scale)

    load_started = time.monotonic()
    loader = Loader(scale)
    first_orders, first_payouts = max(100, int(total_orders * FIRST_STEP)), max(100, int(total_payouts * FIRST_STEP))
    loader.payouts(first_payouts)
    loader.orders(first_orders)
    _vacuum(LOADED_TABLES)
    _close()
    first_seconds = time.monotonic() - load_started
    print(f"  loaded the first {FIRST_STEP:.0%} in {first_seconds:.0f}s; measuring", flush=True)
    pages = _pages(loader)
    before = {p["label"]: p for p in _measure(client, pages, repeats=3, api_client=api_client)}

    started = time.monotonic()
    loader.payouts(total_payouts - first_payouts)
    loader.orders(total_orders - first_orders)
    load_seconds = first_seconds + time.monotonic() - started
    print(f"  loaded everything in {load_seconds:.0f}s of COPY", flush=True)
    started = time.monotonic()
    _vacuum(LOADED_TABLES)
    analyze_seconds = time.monotonic() - started
    close_seconds = _close()
    after = _measure(client, pages, repeats=repeats, api_client=api_client)
    audit = _audit()
    print(f"  audit_ledger {audit['seconds']:.1f}s: {audit['output']}", flush=True)
    for page in after:
        page["queries_after"] = page.pop("queries")
        page["queries_before"] = before[page["label"]]["queries"]
    return {
        "counts": {
            "payouts": Payout.objects.count(),
            "fees": PlatformFee.objects.count(),
            "entries": LedgerEntry.objects.count(),
            "orders": Order.objects.count(),
        },
        "load_seconds": load_seconds,
        "analyze_seconds": analyze_seconds,
        "close_seconds": close_seconds,
        "pages": after,
        "audit": audit,
    }
