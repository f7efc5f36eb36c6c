"""`manage.py demo` (`make demo`): the whole money loop on this machine, against a simulated ClickPesa.

Serves this service (its storefront API and webhook endpoints), the ClickPesa simulator and a
stand-in storefront that verifies every event's signature, each on a free port of 127.0.0.1,
points the ClickPesa client at the simulator, and then drives the loop as the storefront does,
through the storefront API (``/api/v1/``, with a demo API key):

0. the storefront creates the buyers and creators (``PUT /people``) and the creators' payout
   methods;
1. buyers pay creators' orders by USSD push; the simulator sends signed ``PAYMENT RECEIVED`` and
   ``PAYMENT FAILED`` webhooks (every one delivered twice); one buyer's payment fails and is paid
   again, and one payment's webhook is lost;
2. the poller asks ClickPesa about the lost one and applies its answer;
3. every creator requests a payout, submitted to ClickPesa after commit; ClickPesa pays one,
   reverses one after paying it, refunds one, fails one (ClickPesa sends no webhook for that) and
   pays one whose webhooks are all lost;
4. the poller recovers the last two; finance retries the reversed payout, which is paid;
5. prints each creator's balances (``GET /creators/{id}/balance``), the payouts, the webhook inbox,
   the events the storefront received, ClickPesa's balance movement against our gateway cash, and
   the ledger audit's verdict.

Exits 1 unless the audit is clean and every step ended as planned. Celery tasks run in-process
and emails stay in memory while it runs. Development only: refused with DEBUG off unless
CLICKPESA_SIMULATOR_ENABLED is set.
"""

from __future__ import annotations

import base64
import logging
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests
from celery import current_app as celery_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.db.models import Count, Sum
from django.test import override_settings
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from api.models import Scope, StorefrontKey
from backoffice.reconciliation import poll_since
from clickpesa.models import WebhookEvent
from clickpesa.polling import PollSummary
from core.money import format_money
from devtools.simulator import ClickPesaSimulator, ensure_simulator_allowed
from payments.models import Payment
from revenue.ledger import account_balance, account_book, ledger_audit
from revenue.models import LedgerAccount, Payout, TransactionType
from revenue.services import payout_retry

User = get_user_model()

CHECKSUM_KEY = "demo-checksum-key"
CLIENT_ID = "demo-client"
API_KEY = "demo-api-key"  # the simulator's, never a real one
# The stand-in storefront's signing secret (Standard Webhooks), for this run only.
STOREFRONT_SECRET = "whsec_" + base64.b64encode(b"the demo storefront's own secret").decode()

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


class _Storefront(BaseHTTPRequestHandler):
    """The storefront's event endpoint: verifies each event's signature and keeps its type."""

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server: Any = self.server
        try:
            event = Webhook(STOREFRONT_SECRET).verify(raw, dict(self.headers.items()))
            server.events.append(event["type"])
            status = 204
        except (WebhookVerificationError, ValueError):
            server.forged += 1
            status = 400
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

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
        with (
            self._quiet(verbosity),
            self._tasks_in_process(),
            self._served() as base_url,
            self._storefront() as storefront,
        ):
            simulator = ClickPesaSimulator(
                webhook_url=base_url,
                key=CHECKSUM_KEY,
                client_id=CLIENT_ID,
                api_key=API_KEY,
                duplicates=1,
                seed=seed,
            )
            with simulator, self._pointed_at(simulator, storefront):
                cash_before = self._gateway_cash()
                sim_before = simulator.state.balances["TZS"]
                self.api = _Api(f"{base_url}/api/v1")
                problems = self._run(simulator, started)
                cash_moved = self._gateway_cash() - cash_before
                sim_moved = simulator.state.balances["TZS"] - sim_before
                self._report(
                    started, cash_moved=cash_moved, sim_moved=sim_moved, problems=problems, storefront=storefront
                )

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
    def _storefront(self) -> Iterator[Any]:
        """A stand-in storefront on a free port of 127.0.0.1: it verifies and counts the events it gets."""
        server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Storefront)
        server.events, server.forged = [], 0
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    @contextmanager
    def _pointed_at(self, simulator: ClickPesaSimulator, storefront: Any) -> Iterator[None]:
        """ClickPesa is the simulator; events go to the stand-in storefront; emails stay in memory."""
        with override_settings(
            STOREFRONT_WEBHOOK_URL=f"http://127.0.0.1:{storefront.server_address[1]}/events",
            STOREFRONT_WEBHOOK_SECRET=STOREFRONT_SECRET,
            CLICKPESA_BASE_URL=simulator.url,
            CLICKPESA_CLIENT_ID=CLIENT_ID,
            CLICKPESA_API_KEY=API_KEY,
            CLICKPESA_CHECKSUM_KEY=CHECKSUM_KEY,
            # The demo's simulator has no merchant cool-down: its handful of payouts go at once.
            CLICKPESA_PAYOUT_COOLDOWN_SECONDS=0,
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "127.0.0.1"],
            SECURE_SSL_REDIRECT=False,
        ):
            yield

    # -- the story -----------------------------------------------------------------------

    def _run(self, simulator: ClickPesaSimulator, started: Any) -> list[str]:
        """Play the steps of the module docstring; return what did not end as planned."""
        finance = self._finance()
        problems: list[str] = []

        self._step("0. The storefront creates its people and the creators' payout methods (PUT /api/v1/people/...)")
        for username, first, last, phone in BUYERS:
            self.api.put(
                f"people/{username}", {"name": f"{first} {last}", "phone": phone, "email": f"{username}@blinno.example"}
            )
        for username, first, last, method, _ in CREATORS:
            self._creator(username, first, last, method)
        self._say(f"{len(BUYERS)} buyers, {len(CREATORS)} creators, each with a default payout method")

        self._step("1. Buyers pay by USSD push; ClickPesa answers with signed webhooks, each sent twice")
        paid: list[Payment] = []
        phones = {username: phone for username, _, _, phone in BUYERS}
        for creator, buyer, kind, amount, fate in ORDERS:
            line = {
                "creator": creator,
                "transaction_type": kind.lower(),
                "amount": amount,
                "description": f"{kind.label} by {creator[5:].title()}",
            }
            order = self.api.post("orders", {"buyer": buyer, "lines": [line]})
            payment = self._pay(simulator, order["id"], phones[buyer], "failed" if fate == "failed" else "success")
            self._deliver(simulator, payment.reference, lose=fate == "lost")
            payment.refresh_from_db()
            self._say(f"{payment.reference}  {format_money(payment.amount, payment.currency):>12}  {payment.status}")
            if fate == "failed":
                again = self._pay(simulator, order["id"], phones[buyer], "success")
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

        self._step("3. Every creator asks for a payout (POST /api/v1/creators/{id}/payouts), submitted after commit")
        payouts: dict[str, Payout] = {}
        for name, *_, outcome in CREATORS:
            payout = self._payout(simulator, name, outcome)
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
        with self._outcome(simulator, "success"):
            retry = payout_retry(reversed_payout, requested_by=finance)
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

    @contextmanager
    def _outcome(self, simulator: ClickPesaSimulator, outcome: str) -> Iterator[None]:
        """What ClickPesa does with the payment or payout started inside (the API call pushes it at once)."""
        knobs = simulator.config
        previous, knobs.outcome = knobs.outcome, outcome
        try:
            yield
        finally:
            knobs.outcome = previous

    def _pay(self, simulator: ClickPesaSimulator, order_id: int, phone: str, outcome: str) -> Payment:
        with self._outcome(simulator, outcome):
            answer = self.api.post(f"orders/{order_id}/payments", {"method": "ussd_push", "phone": phone})
        return Payment.objects.get(reference=answer["reference"])

    def _payout(self, simulator: ClickPesaSimulator, creator: str, outcome: str) -> Payout:
        with self._outcome(simulator, "success" if outcome == "lost" else outcome):
            answer = self.api.post(f"creators/{creator}/payouts", {})
        return Payout.objects.get(reference=answer["reference"])

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

    def _finance(self) -> Any:
        user, created = User.objects.get_or_create(
            username="demo-finance",
            defaults={
                "first_name": "Fatma",
                "last_name": "Finance",
                "email": "demo-finance@blinno.example",
                "is_staff": True,
            },
        )
        if created:
            user.set_password(secrets.token_urlsafe(16))  # nobody logs in as a demo user
            user.save(update_fields=["password"])
        return user

    def _creator(self, username: str, first: str, last: str, method: tuple[str, str, str, str]) -> None:
        kind, _, number, bic = method
        body = {"name": f"{first} {last}", "email": f"{username}@blinno.example", "is_creator": True}
        self.api.put(f"people/{username}", {**body, "phone": number if kind == "MOBILE_WALLET" else ""})
        if not self.api.get(f"people/{username}/payout-methods"):
            wallet = {"kind": kind.lower(), "account_number": number, "account_name": f"{first} {last}".upper()}
            self.api.post(f"people/{username}/payout-methods", {**wallet, **({"bic": bic} if bic else {})})

    # -- the report ----------------------------------------------------------------------

    def _gateway_cash(self) -> Decimal:
        book = account_book("TZS", creator_kinds=(), platform_kinds=[LedgerAccount.Kind.GATEWAY_CASH])
        return account_balance(book.platform(LedgerAccount.Kind.GATEWAY_CASH))

    def _report(
        self, started: Any, *, cash_moved: Decimal, sim_moved: Decimal, problems: list[str], storefront: Any
    ) -> None:
        self._step("Creator balances (TZS, from GET /api/v1/creators/{id}/balance)")
        header = f"{'creator':<16}{'earned':>12}{'paid out':>12}{'pending':>12}{'available':>12}{'in flight':>12}"
        self._say(header)
        self._say("-" * len(header))
        for name, first, last, *_ in CREATORS:
            b = {
                k: Decimal(v)
                for k, v in self.api.get(f"creators/{name}/balance").items()
                if k not in ("creator", "currency")
            }
            self._say(
                f"{first + ' ' + last:<16}{b['earned']:>12,.2f}{b['paid_out']:>12,.2f}{b['pending']:>12,.2f}"
                f"{b['available']:>12,.2f}{b['in_flight']:>12,.2f}"
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

        self._step("Events the storefront received (signatures verified)")
        for event_type, count in sorted(Counter(storefront.events).items()):
            self._say(f"{event_type:<20} {count:>3}")
        if storefront.forged:
            problems.append(f"{storefront.forged} storefront event(s) failed signature verification")
        if not storefront.events:
            problems.append("the storefront received no event")

        self._step("ClickPesa against our books")
        self._say(
            f"ClickPesa merchant balance moved {format_money(sim_moved, 'TZS')}; "
            f"our gateway cash moved {format_money(cash_moved, 'TZS')}"
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


class _Api:
    """The storefront's side of the API: JSON over HTTP with the demo's key, a new Idempotency-Key per POST."""

    def __init__(self, base_url: str) -> None:
        StorefrontKey.objects.filter(name="demo storefront").update(revoked=True)
        _, key = StorefrontKey.objects.create_key(name="demo storefront", scopes=[Scope.STOREFRONT])
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Api-Key {key}"

    def _answer(self, response: requests.Response) -> Any:
        if response.status_code >= 400:
            raise CommandError(f"{response.request.method} {response.url}: {response.status_code} {response.text}")
        return response.json()

    def get(self, path: str) -> Any:
        return self._answer(self.session.get(f"{self.base_url}/{path}", timeout=60))

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self._answer(self.session.put(f"{self.base_url}/{path}", json=body, timeout=60))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        return self._answer(self.session.post(f"{self.base_url}/{path}", json=body, headers=headers, timeout=60))
