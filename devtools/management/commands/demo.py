"""`manage.py demo` (`make demo`): the whole money loop on this machine, against a simulated ClickPesa.

Serves this service's webhook endpoints and starts the ClickPesa simulator in-process, each on a
free port of 127.0.0.1, points the ClickPesa client at the simulator, and then, through the real
services and the real HTTP endpoints:

1. buyers pay creators' orders by USSD push; the simulator sends signed ``PAYMENT RECEIVED`` and
   ``PAYMENT FAILED`` webhooks (every one delivered twice); one buyer's payment fails and is paid
   again, and one payment's webhook is lost;
2. the poller asks ClickPesa about the lost one and applies its answer;
3. every creator requests a payout, submitted to ClickPesa after commit; ClickPesa pays one,
   reverses one after paying it, refunds one, fails one (ClickPesa sends no webhook for that) and
   pays one whose webhooks are all lost;
4. the poller recovers the last two; finance retries the reversed payout, which is paid;
5. prints each creator's balances, the payouts, the webhook inbox, ClickPesa's balance movement
   against our gateway cash, and the ledger audit's verdict.

Exits 1 unless the audit is clean and every step ended as planned. Celery tasks run in-process
and emails stay in memory while it runs. Development only: refused with DEBUG off unless
CLICKPESA_SIMULATOR_ENABLED is set.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from celery import current_app as celery_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.db import transaction
from django.db.models import Count, Sum
from django.test import override_settings
from django.utils import timezone

from backoffice.reconciliation import poll_since
from clickpesa.models import WebhookEvent
from clickpesa.polling import PollSummary
from core.money import format_money
from devtools.simulator import ClickPesaSimulator, ensure_simulator_allowed
from payments.models import Order, Payment
from payments.services import LineSpec, order_create, payment_start
from revenue.ledger import account_balance, account_book, ledger_audit
from revenue.models import LedgerAccount, Payout, PayoutMethod, TransactionType
from revenue.services import creator_accounts_ensure, creator_balance, payout_request, payout_retry

User = get_user_model()

CHECKSUM_KEY = "demo-checksum-key"
CLIENT_ID = "demo-client"
API_KEY = "demo-api-key"  # the simulator's, never a real one

# Creators: username, name, payout destination (kind, provider, number, BIC), and what ClickPesa
# does with their payout. "lost" is paid with every webhook lost.
CREATORS = [
    ("demo-asha", "Asha", "Mwakyusa", ("MOBILE_WALLET", "M-Pesa", "255754100111", ""), "success"),
    ("demo-juma", "Juma", "Hassani", ("MOBILE_WALLET", "Airtel Money", "255688100222", ""), "reversed_after_success"),
    ("demo-neema", "Neema", "Kimaro", ("BANK_ACCOUNT", "CRDB BANK PLC", "0150100456789", "CORUTZTZ"), "refunded"),
    ("demo-rehema", "Rehema", "Said", ("MOBILE_WALLET", "Tigo Pesa", "255654100333", ""), "failed"),
    ("demo-omari", "Omari", "Juma", ("MOBILE_WALLET", "M-Pesa", "255764100444", ""), "lost"),
]
BUYERS = [("demo-baraka", "Baraka", "Mushi", "255712100555"), ("demo-zoe", "Zoë", "Ngowi", "255713100666")]

# Orders: creator, buyer, what is sold, amount, and what happens to the payment.
ORDERS = [
    ("demo-asha", "demo-baraka", TransactionType.MARKETPLACE, "25000.00", "success"),
    ("demo-asha", "demo-zoe", TransactionType.TIP, "5000.00", "success"),
    ("demo-juma", "demo-zoe", TransactionType.DIGITAL_PRODUCT, "12000.00", "success"),
    ("demo-juma", "demo-baraka", TransactionType.COMMISSION, "80000.00", "failed"),
    ("demo-neema", "demo-zoe", TransactionType.SERVICE_BOOKING, "60000.00", "success"),
    ("demo-rehema", "demo-baraka", TransactionType.SUBSCRIPTION, "15000.00", "success"),
    ("demo-omari", "demo-zoe", TransactionType.MARKETPLACE, "40000.00", "lost"),
]

# Where each payout must end up, by its ClickPesa outcome.
EXPECTED_PAYOUT = {
    "success": Payout.Status.PAID,
    "reversed_after_success": Payout.Status.REVERSED,
    "refunded": Payout.Status.REFUNDED,
    "failed": Payout.Status.FAILED,
    "lost": Payout.Status.PAID,
}
QUIET_LOGGERS = ("clickpesa", "payments", "revenue", "notifications", "django.server", "celery", "kombu")


class _QuietRequestHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class Command(BaseCommand):
    help = (
        "Run the whole money loop against a simulated ClickPesa on this machine: payments, webhooks, "
        "payouts, failures, lost webhooks and their recovery; print balances and the ledger audit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=0, help="seed for the simulator's ids and order of events")

    def handle(self, *args: Any, seed: int, verbosity: int, **options: Any) -> None:
        try:
            ensure_simulator_allowed()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        started = timezone.now()
        with self._quiet(verbosity), self._tasks_in_process(), self._served() as base_url:
            simulator = ClickPesaSimulator(
                webhook_url=base_url,
                key=CHECKSUM_KEY,
                client_id=CLIENT_ID,
                api_key=API_KEY,
                duplicates=1,
                seed=seed,
            )
            with simulator, self._pointed_at(simulator):
                cash_before = self._gateway_cash()
                sim_before = simulator.state.balances["TZS"]
                problems = self._run(simulator, started)
                cash_moved = self._gateway_cash() - cash_before
                sim_moved = simulator.state.balances["TZS"] - sim_before
        self._report(started, cash_moved=cash_moved, sim_moved=sim_moved, problems=problems)

    # -- the environment -----------------------------------------------------------------

    @contextmanager
    def _quiet(self, verbosity: int) -> Iterator[None]:
        """Keep the services' own log lines out of the story unless asked (``-v 2``)."""
        if verbosity >= 2:
            yield
            return
        loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)

    @contextmanager
    def _tasks_in_process(self) -> Iterator[None]:
        """Run Celery tasks here, even when a broker is configured: no worker may submit demo payouts."""
        previous = celery_app.conf.task_always_eager
        celery_app.conf.task_always_eager = True
        try:
            yield
        finally:
            celery_app.conf.task_always_eager = previous

    @contextmanager
    def _served(self) -> Iterator[str]:
        """Serve this project (its webhook endpoints) on a free port of 127.0.0.1; yield the base URL."""
        server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietRequestHandler, allow_reuse_address=False)
        server.set_app(WSGIHandler())
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    @contextmanager
    def _pointed_at(self, simulator: ClickPesaSimulator) -> Iterator[None]:
        """ClickPesa is the simulator; webhooks are signed with its key; emails stay in memory."""
        with override_settings(
            CLICKPESA_BASE_URL=simulator.url,
            CLICKPESA_CLIENT_ID=CLIENT_ID,
            CLICKPESA_API_KEY=API_KEY,
            CLICKPESA_CHECKSUM_KEY=CHECKSUM_KEY,
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "127.0.0.1"],
            SECURE_SSL_REDIRECT=False,
        ):
            yield

    # -- the story -----------------------------------------------------------------------

    def _run(self, simulator: ClickPesaSimulator, started: Any) -> list[str]:
        """Play the steps of the module docstring; return what did not end as planned."""
        finance = self._user("demo-finance", "Fatma", "Finance", is_staff=True)
        creators = {name: self._creator(name, first, last, method) for name, first, last, method, _ in CREATORS}
        buyers = {name: self._user(name, first, last, phone_number=phone) for name, first, last, phone in BUYERS}
        problems: list[str] = []

        self._step("1. Buyers pay by USSD push; ClickPesa answers with signed webhooks, each sent twice")
        paid: list[Payment] = []
        for creator, buyer, kind, amount, fate in ORDERS:
            line = LineSpec(creators[creator], kind, Decimal(amount), f"{kind.label} by {creator[5:].title()}")
            order = order_create(buyers[buyer], lines=[line])
            payment = self._pay(simulator, order, buyers[buyer], "failed" if fate == "failed" else "success")
            self._deliver(simulator, payment.reference, lose=fate == "lost")
            payment.refresh_from_db()
            self._say(f"{payment.reference}  {format_money(payment.amount, payment.currency):>12}  {payment.status}")
            if fate == "failed":
                again = self._pay(simulator, order, buyers[buyer], "success")
                self._deliver(simulator, again.reference)
                again.refresh_from_db()
                self._say(
                    f"{again.reference}  {format_money(again.amount, again.currency):>12}  {again.status}"
                    " (second attempt)"
                )
                paid.append(again)
            else:
                paid.append(payment)

        self._step("2. The poller asks ClickPesa about the payment whose webhook was lost")
        self._show_poll(poll_since(started))
        for payment in paid:
            payment.refresh_from_db()
            if payment.status != Payment.Status.COMPLETED:
                problems.append(f"payment {payment.reference} is {payment.status}, not COMPLETED")

        self._step("3. Every creator requests a payout; each is submitted to ClickPesa after commit")
        payouts: dict[str, Payout] = {}
        for name, *_, outcome in CREATORS:
            payout = self._payout(simulator, creators[name], outcome)
            self._deliver(simulator, payout.reference, lose=outcome == "lost")
            payout.refresh_from_db()
            payouts[name] = payout
            self._say(
                f"{payout.reference}  {name[5:].title():<7} {format_money(payout.amount, payout.currency):>13}  "
                f"ClickPesa: {outcome:<23} ours: {payout.status}"
            )

        self._step("4. The poller recovers what no webhook told us; finance retries the reversed payout")
        self._show_poll(poll_since(started))
        reversed_payout = payouts["demo-juma"]
        with transaction.atomic():
            retry = payout_retry(reversed_payout, requested_by=finance)
            simulator.plan(retry.reference, "success")
        self._deliver(simulator, retry.reference)
        retry.refresh_from_db()
        self._say(f"{retry.reference}  retry of {reversed_payout.reference}: {retry.status}")

        for name, *_, outcome in CREATORS:
            payouts[name].refresh_from_db()
            if payouts[name].status != EXPECTED_PAYOUT[outcome]:
                problems.append(f"payout of {name} is {payouts[name].status}, not {EXPECTED_PAYOUT[outcome]}")
        if retry.status != Payout.Status.PAID:
            problems.append(f"retry {retry.reference} is {retry.status}, not PAID")
        return problems

    def _pay(self, simulator: ClickPesaSimulator, order: Order, buyer: Any, outcome: str) -> Payment:
        # The push goes out when this block commits: the simulator knows the plan by then.
        with transaction.atomic():
            payment = payment_start(order, phone_number=buyer.phone_number)
            simulator.plan(payment.reference, outcome)
        payment.refresh_from_db()
        return payment

    def _payout(self, simulator: ClickPesaSimulator, creator: Any, outcome: str) -> Payout:
        # Submitted when this block commits: the simulator knows the plan by then.
        with transaction.atomic():
            payout = payout_request(creator)
            simulator.plan(payout.reference, "success" if outcome == "lost" else outcome)
        return payout

    def _deliver(self, simulator: ClickPesaSimulator, reference: str, *, lose: bool = False) -> None:
        """Let ClickPesa finish ``reference`` and send its webhooks, or lose every one of them."""
        knobs = simulator.config
        previous, knobs.drop_rate = knobs.drop_rate, 1.0 if lose else knobs.drop_rate
        try:
            simulator.deliver_pending(reference)
        finally:
            knobs.drop_rate = previous

    def _show_poll(self, summary: PollSummary) -> None:
        for result in summary.results:
            self._say(f"{result.reference}  {result.outcome:<9} {result.detail}")

    # -- people --------------------------------------------------------------------------

    def _user(self, username: str, first: str, last: str, **extra: Any) -> Any:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"first_name": first, "last_name": last, "email": f"{username}@blinno.example", **extra},
        )
        if created:
            user.set_password(secrets.token_urlsafe(16))  # nobody logs in as a demo user
            user.save(update_fields=["password"])
        return user

    def _creator(self, username: str, first: str, last: str, method: tuple[str, str, str, str]) -> Any:
        creator = self._user(username, first, last, is_creator=True, phone_number=method[2][:12])
        creator_accounts_ensure(creator)
        kind, provider, number, bic = method
        PayoutMethod.objects.get_or_create(
            creator=creator,
            is_default=True,
            defaults={
                "kind": kind,
                "provider": provider,
                "account_number": number,
                "account_name": f"{first} {last}".upper(),
                "bic": bic,
            },
        )
        return creator

    # -- the report ----------------------------------------------------------------------

    def _gateway_cash(self) -> Decimal:
        book = account_book("TZS", creator_kinds=(), platform_kinds=[LedgerAccount.Kind.GATEWAY_CASH])
        return account_balance(book.platform(LedgerAccount.Kind.GATEWAY_CASH))

    def _report(self, started: Any, *, cash_moved: Decimal, sim_moved: Decimal, problems: list[str]) -> None:
        self._step("Creator balances (TZS)")
        header = f"{'creator':<16}{'earned':>12}{'paid out':>12}{'pending':>12}{'available':>12}{'in flight':>12}"
        self._say(header)
        self._say("-" * len(header))
        for name, *_ in CREATORS:
            creator = User.objects.get(username=name)
            b = creator_balance(creator)
            self._say(
                f"{creator.get_full_name():<16}{b.earned:>12,.2f}{b.paid_out:>12,.2f}{b.pending:>12,.2f}"
                f"{b.available:>12,.2f}{b.in_flight:>12,.2f}"
            )

        self._step("Payouts")
        for payout in Payout.objects.filter(created_at__gte=started).select_related("creator").order_by("pk"):
            last = payout.status_changes.last()
            how = f"by {last.source}" if last else ""
            self._say(
                f"{payout.reference}  {payout.creator.get_full_name():<15} "
                f"{format_money(payout.amount, payout.currency):>13}  {payout.status:<9} {how}"
            )

        self._step("Webhook inbox")
        events = WebhookEvent.objects.filter(received_at__gte=started)
        rows = events.values("source", "status").annotate(n=Count("id"), dups=Sum("duplicate_count"))
        for row in rows.order_by("source", "status"):
            self._say(f"{row['source']:<8} {row['status']:<10} {row['n']:>3} event(s), {row['dups'] or 0} duplicate(s)")
        statuses = Counter(events.values_list("status", flat=True))
        if statuses[WebhookEvent.Status.FAILED] or statuses[WebhookEvent.Status.DEAD]:
            problems.append(
                f"{statuses[WebhookEvent.Status.FAILED] + statuses[WebhookEvent.Status.DEAD]} webhook event(s) failed"
            )

        self._step("ClickPesa against our books")
        self._say(
            f"ClickPesa merchant balance moved {sim_moved:+,.2f} TZS; our gateway cash moved {cash_moved:+,.2f} TZS"
        )
        if sim_moved != cash_moved:
            problems.append("our gateway cash does not follow ClickPesa's balance")

        self._step("Ledger audit")
        run = ledger_audit()
        self._say(f"Checked {run.accounts_checked} accounts and {run.transactions_checked} transactions.")
        for difference in run.differences:
            self.stderr.write(" · ".join(f"{k}={v}" for k, v in difference.items()))
        if not run.ok:
            problems.append(f"the ledger audit found {len(run.differences)} difference(s)")
        for problem in problems:
            self.stderr.write(self.style.ERROR(f"Problem: {problem}"))
        if problems:
            raise CommandError("The demo did not end as planned.")
        self.stdout.write(self.style.SUCCESS("Ledger clean: every balance equals the sum of its entries."))

    def _step(self, title: str) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.MIGRATE_HEADING(title))

    def _say(self, line: str) -> None:
        self.stdout.write(f"  {line}")
