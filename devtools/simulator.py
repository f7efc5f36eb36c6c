"""A fake ClickPesa for development, demos and tests: never for production.

:class:`ClickPesaSimulator` answers the calls :mod:`clickpesa.client` makes (token, USSD push,
payment query, payout preview/create/query, balance, statement) from in-memory state, and for
every payout it creates and every USSD push it starts, sends signed webhooks shaped like
ClickPesa's to our two endpoints. Knobs make delivery as unreliable as the real thing is
assumed to be: delay, duplicate deliveries, out-of-order delivery, dropped deliveries and the
payout's fate (paid, refunded, reversed, reversed after being paid, failed). A dropped webhook
still changes the state, so a status query recovers it, as polling must.

Each payout or payment has a plan of steps. A step changes the record's status (and the
merchant balance) and produces a webhook. Steps run either on a background thread, ``delay``
seconds apart (``auto_deliver=True``, the ``clickpesa_simulator`` command), or all at once when
a test calls :meth:`ClickPesaSimulator.deliver_pending`, which makes tests deterministic.

Starting it is refused while ``DEBUG`` is off unless ``CLICKPESA_SIMULATOR_ENABLED`` is set.
"""

from __future__ import annotations

import collections
import copy
import itertools
import json
import logging
import math
import random
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from clickpesa import checksum
from clickpesa.client import amount_text
from clickpesa.jsonwire import encode_json
from clickpesa.payloads import PayloadError, parse_money

__all__ = [
    "OUTCOMES",
    "PAYMENTS_WEBHOOK_PATH",
    "PAYOUTS_WEBHOOK_PATH",
    "ClickPesaSimulator",
    "Delivery",
    "RecordedRequest",
    "SimPayment",
    "SimPayout",
    "SimulatorState",
    "ensure_simulator_allowed",
]

logger = logging.getLogger(__name__)

PAYOUTS_WEBHOOK_PATH = "/api/revenue/payouts/webhook"
PAYMENTS_WEBHOOK_PATH = "/api/payments/webhook"

OUTCOMES = ("success", "refunded", "reversed", "reversed_after_success", "failed", "mixed")
"""A payout's fate. For a payment, ``failed`` fails it and every other outcome completes it."""

# The payout statuses each outcome walks through after AUTHORIZED. A FAILED payout sends no
# webhook: ClickPesa has no such event, only the status query tells.
_PAYOUT_STEPS = {
    "success": ("PROCESSING", "SUCCESS"),
    "refunded": ("PROCESSING", "REFUNDED"),
    "reversed": ("PROCESSING", "REVERSED"),
    "reversed_after_success": ("PROCESSING", "SUCCESS", "REVERSED"),
    "failed": ("FAILED",),
}
_MIXED_PAYOUTS = {"success": 60, "refunded": 10, "reversed": 10, "reversed_after_success": 10, "failed": 10}
_MIXED_PAYMENTS = {"success": 80, "failed": 20}
_PAYOUT_EVENTS = {
    "PROCESSING": "PAYOUT INITIATED",
    "SUCCESS": "PAYOUT INITIATED",
    "REFUNDED": "PAYOUT REFUNDED",
    "REVERSED": "PAYOUT REVERSED",
}
_PAYMENT_EVENTS = {"SUCCESS": "PAYMENT RECEIVED", "FAILED": "PAYMENT FAILED"}

# Fee rates that reproduce the samples (50,000 -> 1,180 by mobile money; 200,000 -> 2,360 by bank).
_MOBILE_FEE_RATE = Decimal("0.0236")
_BANK_FEE_RATE = Decimal("0.0118")
_CENT = Decimal("0.01")
_TOKEN_SECONDS = 3600
_DELIVERY_TIMEOUT_SECONDS = 10
_TICK_SECONDS = 0.02

_REFERENCE = re.compile(r"[A-Za-z0-9]+")
_PHONE = re.compile(r"255[0-9]{9}")
# (payment channel, payout channel provider) by the phone number's operator prefix.
_OPERATORS = {
    "25574": ("M-PESA", "MPESA TANZANIA"),
    "25575": ("M-PESA", "MPESA TANZANIA"),
    "25576": ("M-PESA", "MPESA TANZANIA"),
    "25568": ("AIRTEL-MONEY", "AIRTEL MONEY"),
    "25569": ("AIRTEL-MONEY", "AIRTEL MONEY"),
    "25578": ("AIRTEL-MONEY", "AIRTEL MONEY"),
    "25565": ("TIGO-PESA", "TIGO PESA"),
    "25567": ("TIGO-PESA", "TIGO PESA"),
    "25571": ("TIGO-PESA", "TIGO PESA"),
    "25577": ("TIGO-PESA", "TIGO PESA"),
    "25561": ("HALOPESA", "HALOPESA"),
    "25562": ("HALOPESA", "HALOPESA"),
}
_BANKS = {"CORUTZTZ": "CRDB BANK PLC", "NMIBTZTZ": "NMB BANK PLC", "SCBLTZTX": "STANDARD CHARTERED BANK"}
_REFUND_MESSAGE = "The payout was refunded due to a processing error."
_REVERSE_MESSAGE = "The payout was reversed due to invalid account information."
_PAYMENT_FAILED_MESSAGE = "Insufficient balance"


def ensure_simulator_allowed() -> None:
    """Raise ``ImproperlyConfigured`` unless ``DEBUG`` or ``CLICKPESA_SIMULATOR_ENABLED`` is on."""
    if not settings.DEBUG and not settings.CLICKPESA_SIMULATOR_ENABLED:
        raise ImproperlyConfigured(
            "The ClickPesa simulator is for development only: it runs with DEBUG on, "
            "or with CLICKPESA_SIMULATOR_ENABLED=true outside production."
        )


def _iso(moment: datetime) -> str:
    """ClickPesa's timestamp format: ``2025-09-16T07:00:00.000Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _money(amount: Decimal) -> str:
    """An amount as payout answers and webhooks carry it: ``"51180.00"``."""
    return f"{amount.quantize(_CENT):f}"


# ---- records ---------------------------------------------------------------------------


@dataclass
class SimPayout:
    """A payout the simulator accepted. ``amount`` is what the beneficiary gets; ``total`` adds the fee."""

    id: str
    order_reference: str
    amount: Decimal
    fee: Decimal
    currency: str
    channel: str
    channel_provider: str
    beneficiary: dict[str, str]
    transfer_type: str
    outcome: str
    status: str
    created_at: datetime
    updated_at: datetime
    refund: dict[str, Any] | None = None
    reverse: dict[str, Any] | None = None

    @property
    def total(self) -> Decimal:
        return self.amount + self.fee

    def as_json(self) -> dict[str, Any]:
        """The payout as a status query (and a webhook's ``data``) shows it."""
        data: dict[str, Any] = {
            "id": self.id,
            "orderReference": self.order_reference,
            "amount": _money(self.total),
            "currency": self.currency,
            "fee": _money(self.fee),
            "status": self.status,
            "channel": self.channel,
            "channelProvider": self.channel_provider,
        }
        if self.transfer_type:
            data["transferType"] = self.transfer_type
        if self.refund:
            data["refund"] = dict(self.refund)
        if self.reverse:
            data["reverse"] = dict(self.reverse)
        data["beneficiary"] = dict(self.beneficiary)
        data["createdAt"] = _iso(self.created_at)
        data["updatedAt"] = _iso(self.updated_at)
        return data


@dataclass
class SimPayment:
    """A USSD-push payment the simulator started."""

    id: str
    order_reference: str
    amount: str
    currency: str
    phone_number: str
    channel: str
    payment_reference: str
    outcome: str
    status: str
    message: str
    created_at: datetime
    updated_at: datetime
    # Set when the payment was given back to the buyer (reverse_payment): message, reversedAt, charges.
    returned: dict[str, Any] | None = None

    def as_json(self, client_id: str) -> dict[str, Any]:
        """The payment as the status query shows it."""
        returned = {"reverse": self.returned} if self.returned else {}
        return {
            **returned,
            "id": self.id,
            "status": self.status,
            "paymentReference": self.payment_reference,
            "paymentPhoneNumber": self.phone_number,
            "orderReference": self.order_reference,
            "collectedAmount": self.amount,
            "collectedCurrency": self.currency,
            "message": self.message,
            "channel": self.channel,
            "updatedAt": _iso(self.updated_at),
            "createdAt": _iso(self.created_at),
            "customer": self._customer(),
            "clientId": client_id,
        }

    def webhook_data(self, client_id: str) -> dict[str, Any]:
        """The ``data`` of this payment's webhook, in the shape of the samples."""
        if self.status == "FAILED":
            return {
                "id": self.id,
                "status": self.status,
                "orderReference": self.order_reference,
                "message": self.message,
                "channel": self.channel,
                "clientId": client_id,
                "createdAt": _iso(self.created_at),
                "updatedAt": _iso(self.updated_at),
            }
        return {
            "id": self.id,
            "status": self.status,
            "paymentReference": self.payment_reference,
            "orderReference": self.order_reference,
            "collectedAmount": self.amount,
            "collectedCurrency": self.currency,
            "message": self.message,
            "channel": self.channel,
            "clientId": client_id,
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
            "customer": self._customer(),
        }

    def _customer(self) -> dict[str, str]:
        return {
            "customerName": "SIMULATED CUSTOMER",
            "customerEmail": "customer@example.com",
            "customerPhoneNumber": self.phone_number,
        }


@dataclass(frozen=True)
class StatementEntry:
    """One movement of the simulated merchant balance."""

    id: str
    order_reference: str
    date: datetime
    description: str
    entry: str
    amount: Decimal
    currency: str
    balance: Decimal
    type: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "orderReference": self.order_reference,
            "date": _iso(self.date),
            "description": self.description,
            "entry": self.entry,
            "amount": self.amount,
            "currency": self.currency,
            "balance": self.balance,
            "type": self.type,
        }


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery attempt (or a dropped one). ``status_code`` is ``None`` when none answered."""

    event: str
    order_reference: str
    url: str
    body: dict[str, Any]
    dropped: bool
    status_code: int | None
    error: str


@dataclass(frozen=True)
class RecordedRequest:
    """An API request the simulator received, with its JSON body and checksum verdict."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    checksum: str | None


@dataclass(frozen=True)
class SimulatorState:
    """A consistent copy of everything the simulator holds."""

    balances: dict[str, Decimal]
    payouts: dict[str, SimPayout]
    payments: dict[str, SimPayment]
    statement: list[StatementEntry]
    pending_steps: int


@dataclass
class _Step:
    due: float
    kind: str
    reference: str
    status: str


@dataclass
class _Fault:
    path: str
    status: int
    message: str
    remaining: int
    after_apply: bool


class _Refusal(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ---- the simulator ---------------------------------------------------------------------


@dataclass
class _Config:
    webhook_url: str
    key: str
    delay: float
    duplicates: int
    shuffle: bool
    drop_rate: float
    outcome: str
    seed: int
    cooldown: int
    merchant_cooldown: float
    rate_limit: int
    rate_window: float
    client_id: str
    api_key: str
    auto_deliver: bool
    host: str
    port: int


class ClickPesaSimulator:
    """ClickPesa's API and webhooks, simulated in memory. See the module docstring.

    ``webhook_url`` is our service's base URL (``http://127.0.0.1:8000``): payout webhooks go
    to ``PAYOUTS_WEBHOOK_PATH`` under it and payment webhooks to ``PAYMENTS_WEBHOOK_PATH``;
    empty means webhooks are recorded but not sent. ``key`` signs webhooks and checks request
    checksums (default ``CLICKPESA_CHECKSUM_KEY``; empty: unsigned, unchecked). ``client_id``
    and ``api_key`` are the credentials it accepts (default the configured ones; empty: any).
    ``balance`` is the opening merchant balance in each currency. ``cooldown`` refuses a
    second payout to the same destination within that many seconds, as ClickPesa does;
    ``merchant_cooldown`` refuses any second create-payout within that many seconds (ClickPesa's
    per-merchant cool-down); ``rate_limit`` answers 429 to a request beyond that many in any
    ``rate_window`` seconds (ClickPesa allows 120 a minute). Both refusals are kept in :attr:`refusals`.
    """

    def __init__(
        self,
        *,
        webhook_url: str = "",
        key: str | None = None,
        delay: float = 0.0,
        duplicates: int = 0,
        shuffle: bool = False,
        drop_rate: float = 0.0,
        outcome: str = "success",
        seed: int = 0,
        cooldown: int = 0,
        merchant_cooldown: float = 0.0,
        rate_limit: int = 0,
        rate_window: float = 60.0,
        balance: Decimal | None = None,
        client_id: str | None = None,
        api_key: str | None = None,
        auto_deliver: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        if not 0 <= drop_rate <= 1:
            raise ValueError("drop_rate must be between 0 and 1")
        if min(duplicates, delay, cooldown, merchant_cooldown, rate_limit) < 0 or rate_window <= 0:
            raise ValueError("duplicates, delay, cool-downs and the rate limit must not be negative")
        self.config = _Config(
            webhook_url=webhook_url.rstrip("/"),
            key=settings.CLICKPESA_CHECKSUM_KEY if key is None else key,
            delay=delay,
            duplicates=duplicates,
            shuffle=shuffle,
            drop_rate=drop_rate,
            outcome=outcome,
            seed=seed,
            cooldown=cooldown,
            merchant_cooldown=merchant_cooldown,
            rate_limit=rate_limit,
            rate_window=rate_window,
            client_id=settings.CLICKPESA_CLIENT_ID if client_id is None else client_id,
            api_key=settings.CLICKPESA_API_KEY if api_key is None else api_key,
            auto_deliver=auto_deliver,
            host=host,
            port=port,
        )
        opening = Decimal("10000000.00") if balance is None else balance
        self._lock = threading.RLock()
        self._random = random.Random(seed)
        self._ids = itertools.count(1)
        self._balances: dict[str, Decimal] = {"TZS": opening, "USD": opening}
        self._payouts: dict[str, SimPayout] = {}
        self._payments: dict[str, SimPayment] = {}
        self._statement: list[StatementEntry] = []
        self._steps: list[_Step] = []
        self._plans: dict[str, str] = {}
        self._faults: list[_Fault] = []
        self._tokens: dict[str, float] = {}
        self._last_payout_to: dict[str, float] = {}
        self._last_create: float | None = None
        self._request_times: collections.deque[float] = collections.deque()
        self._refusals: list[tuple[str, int, str]] = []
        self._sending = 0
        self._deliveries: list[Delivery] = []
        self._requests: list[RecordedRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> ClickPesaSimulator:
        """Serve on ``host:port`` (port 0: any free port, see :attr:`url`) in background threads."""
        ensure_simulator_allowed()
        server = ThreadingHTTPServer((self.config.host, self.config.port), _Handler)
        server.daemon_threads = True
        server.simulator = self  # type: ignore[attr-defined]
        self._server = server
        self._stopping.clear()
        serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        serving.start()
        self._threads = [serving]
        if self.config.auto_deliver:
            delivering = threading.Thread(target=self._deliver_forever, daemon=True)
            delivering.start()
            self._threads.append(delivering)
        return self

    def stop(self) -> None:
        """Stop serving and delivering; pending steps stay pending."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=_DELIVERY_TIMEOUT_SECONDS + 1)
        self._threads = []
        self._server = None

    def __enter__(self) -> ClickPesaSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to use as ``CLICKPESA_BASE_URL``."""
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- inspection and control ----------------------------------------------------------

    @property
    def state(self) -> SimulatorState:
        with self._lock:
            return SimulatorState(
                balances=dict(self._balances),
                payouts=copy.deepcopy(self._payouts),
                payments=copy.deepcopy(self._payments),
                statement=list(self._statement),
                pending_steps=len(self._steps),
            )

    @property
    def payouts(self) -> dict[str, SimPayout]:
        """A copy of every payout, by order reference."""
        with self._lock:
            return copy.deepcopy(self._payouts)

    @property
    def payments(self) -> dict[str, SimPayment]:
        """A copy of every payment, by order reference."""
        with self._lock:
            return copy.deepcopy(self._payments)

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook delivery so far, dropped ones included, in the order they were made."""
        with self._lock:
            return list(self._deliveries)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every API request received so far, in order."""
        with self._lock:
            return list(self._requests)

    def plan(self, reference: str, outcome: str) -> None:
        """Fix the outcome of the payout or payment that will use ``reference``, over ``outcome``."""
        if outcome not in OUTCOMES or outcome == "mixed":
            raise ValueError(f"a planned outcome is one of {', '.join(_PAYOUT_STEPS)}")
        with self._lock:
            self._plans[reference] = outcome

    def reverse_payment(
        self, reference: str, *, refunded: bool = False, charges: Decimal = Decimal(0), message: str = "Reversed"
    ) -> None:
        """Give a collected payment back to the buyer, as ClickPesa's dashboard does ("reverse", "reverse
        with charges", or REFUNDED before settlement): no webhook, only the query and the statement show it."""
        with self._lock:
            payment = self._payments[reference]
            now = datetime.now(UTC)
            kind = "Refunded Payment" if refunded else "Reversed Payment"
            payment.status = "REFUNDED" if refunded else "REVERSED"
            payment.updated_at = now
            payment.returned = {"message": message, "reversedAt": _iso(now), "reversedWithCharges": bool(charges)}
            if charges:
                payment.returned["charges"] = _money(charges)
            self._move(payment.currency, Decimal(payment.amount), "Debit", kind, reference)
            if charges:
                self._move(payment.currency, charges, "Debit", f"Fee - {kind}", reference)

    def fail_next(
        self,
        path: str,
        *,
        status: int = 500,
        message: str = "Internal Server Error",
        times: int = 1,
        after_apply: bool = False,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` with ``status`` and ``message``.

        With ``after_apply`` the request is carried out first and only its answer is replaced,
        as when ClickPesa accepts a payout but the answer never reaches us.
        """
        with self._lock:
            self._faults.append(_Fault(path, status, message, times, after_apply))

    def expire_tokens(self) -> None:
        """Forget every issued token, so the next call with one is answered 401."""
        with self._lock:
            self._tokens.clear()

    def deliver_pending(self, reference: str | None = None) -> list[Delivery]:
        """Run every pending step now (of ``reference`` only, if given) and send their webhooks.

        Returns the deliveries made, in the order made, including dropped ones. Duplicates,
        shuffling and drops apply to this batch as the knobs say.
        """
        with self._lock:
            steps = [step for step in self._steps if reference is None or step.reference == reference]
            batch = self._run_steps(steps)
        return self._send(batch)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """With ``auto_deliver``, wait until no step is pending or being delivered; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._steps and not self._sending:
                    return True
            time.sleep(_TICK_SECONDS)
        return False

    # -- delivery ------------------------------------------------------------------------

    def _deliver_forever(self) -> None:
        while not self._stopping.wait(_TICK_SECONDS):
            try:
                with self._lock:
                    now = time.monotonic()
                    batch = self._run_steps([step for step in self._steps if step.due <= now])
                self._send(batch)
            except Exception:
                # A long-running demo keeps delivering the other records; this one is logged.
                logger.exception("the simulator could not deliver a batch of webhooks")

    def _run_steps(self, steps: list[_Step]) -> list[Delivery]:
        """Apply ``steps`` in their true order and lay out their deliveries by the knobs (lock held)."""
        bodies: list[tuple[str, str, str, dict[str, Any]]] = []
        for step in steps:
            self._steps.remove(step)
            webhook = self._apply(step)
            if webhook is not None:
                bodies.append(webhook)
        planned = [item for item in bodies for _ in range(1 + self.config.duplicates)]
        if self.config.shuffle and len(planned) > 1:
            in_order = list(planned)
            self._random.shuffle(planned)
            if planned == in_order:
                planned.reverse()
        batch = []
        for event, reference, path, body in planned:
            dropped = self.config.drop_rate > 0 and self._random.random() < self.config.drop_rate
            url = f"{self.config.webhook_url}{path}" if self.config.webhook_url else ""
            batch.append(Delivery(event, reference, url, body, dropped, None, ""))
        if batch:
            # Counted until sent, so that wait_idle() does not see an idle moment in between.
            self._sending += 1
        return batch

    def _send(self, batch: list[Delivery]) -> list[Delivery]:
        """POST each delivery that is not dropped; record every one."""
        if not batch:
            return []
        done = []
        try:
            for delivery in batch:
                result = delivery
                if not delivery.dropped and delivery.url:
                    result = self._post(delivery)
                elif not delivery.url:
                    result = replace(delivery, error="no webhook URL configured")
                with self._lock:
                    self._deliveries.append(result)
                done.append(result)
        finally:
            with self._lock:
                self._sending -= 1
        return done

    def _post(self, delivery: Delivery) -> Delivery:
        data = json.dumps(delivery.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        try:
            response = requests.post(
                delivery.url,
                data=data,
                headers={"Content-Type": "application/json"},
                timeout=_DELIVERY_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            logger.warning(
                "webhook %s %s to %s failed: %s", delivery.event, delivery.order_reference, delivery.url, exc
            )
            return replace(delivery, error=str(exc))
        logger.info("webhook %s %s -> %s", delivery.event, delivery.order_reference, response.status_code)
        return replace(delivery, status_code=response.status_code)

    def _apply(self, step: _Step) -> tuple[str, str, str, dict[str, Any]] | None:
        """Move a record to the step's status; return its webhook (event, reference, path, body)."""
        now = datetime.now(UTC)
        if step.kind == "payment":
            payment = self._payments[step.reference]
            payment.status = step.status
            payment.updated_at = now
            if step.status == "FAILED":
                payment.message = _PAYMENT_FAILED_MESSAGE
            else:
                payment.message = "success"
                self._move(payment.currency, Decimal(payment.amount), "Credit", "Payment", payment.order_reference)
            event = _PAYMENT_EVENTS[step.status]
            return event, step.reference, PAYMENTS_WEBHOOK_PATH, self._sign(event, payment.webhook_data(self._client))

        payout = self._payouts[step.reference]
        payout.status = step.status
        payout.updated_at = now
        if step.status == "REFUNDED":
            payout.refund = {"message": _REFUND_MESSAGE, "refundedAt": _iso(now)}
            self._move(payout.currency, payout.total, "Credit", "Refunded Payout", payout.order_reference)
        elif step.status == "REVERSED":
            payout.reverse = {"message": _REVERSE_MESSAGE, "reversedAt": _iso(now), "reversedWithFee": True}
            self._move(payout.currency, payout.total, "Credit", "Reversed Payout", payout.order_reference)
        elif step.status == "FAILED":
            self._move(payout.currency, payout.total, "Credit", "Refunded Payout", payout.order_reference)
            return None
        event = _PAYOUT_EVENTS[step.status]
        return event, step.reference, PAYOUTS_WEBHOOK_PATH, self._sign(event, payout.as_json())

    def _sign(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        body = {"event": event, "data": data}
        return checksum.sign(body, self.config.key) if self.config.key else body

    def _schedule(self, kind: str, reference: str, statuses: tuple[str, ...]) -> None:
        start = time.monotonic()
        for position, status in enumerate(statuses, start=1):
            # Shuffled steps fall due together so that one batch can reorder them.
            due = start + self.config.delay * (len(statuses) if self.config.shuffle else position)
            self._steps.append(_Step(due, kind, reference, status))

    def _outcome(self, reference: str, *, mixed: dict[str, int]) -> str:
        if reference in self._plans:
            return self._plans[reference]
        if self.config.outcome != "mixed":
            return self.config.outcome
        # Seeded per reference, so a payout's fate does not depend on the order of requests.
        chooser = random.Random(f"{self.config.seed}:{reference}")
        return chooser.choices(list(mixed), weights=list(mixed.values()))[0]

    def _move(self, currency: str, amount: Decimal, entry: str, kind: str, reference: str) -> None:
        """Change the merchant balance and write the statement row (lock held)."""
        signed = amount if entry == "Credit" else -amount
        self._balances[currency] = self._balances.get(currency, Decimal("0.00")) + signed
        self._statement.append(
            StatementEntry(
                id=f"STM{next(self._ids):06d}",
                order_reference=reference,
                date=datetime.now(UTC),
                description=f"{kind} {reference}",
                entry=entry,
                amount=amount,
                currency=currency,
                balance=self._balances[currency],
                type=kind,
            )
        )

    @property
    def _client(self) -> str:
        return self.config.client_id or "IDsimulatorClient"

    # -- the API -------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        """Answer one API request: ``(HTTP status, JSON-able answer)``. Used by the HTTP handler."""
        parts = urlsplit(target)
        path = parts.path.rstrip("/") or "/"
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        body, verdict = self._decode(raw)
        with self._lock:
            self._requests.append(RecordedRequest(method, path, query, headers, body, verdict))
            fault = self._take_fault(path)
            limited = self._over_rate_limit()
        if limited:
            message = "Too many requests, please slow down"
            with self._lock:
                self._refusals.append((path, 429, message))
            return 429, {"message": message}
        if fault is not None and not fault.after_apply:
            return fault.status, {"message": fault.message}
        try:
            answer = self._route(method, path, query, headers, body, verdict)
        except _Refusal as refusal:
            answer = (refusal.status, {"message": refusal.message})
        if fault is not None:
            return fault.status, {"message": fault.message}
        return answer

    def _decode(self, raw: bytes) -> tuple[Any, str | None]:
        if not raw:
            return None, None
        try:
            body = json.loads(raw, parse_float=Decimal)
            # The checksum covers the body as a JavaScript reader sees it: plain floats.
            verdict = checksum.verify(json.loads(raw), self.config.key) if isinstance(body, dict) else None
        except ValueError:
            return raw.decode("utf-8", "replace"), None
        return body, verdict

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.path == path and fault.remaining > 0:
                fault.remaining -= 1
                if not fault.remaining:
                    self._faults.remove(fault)
                return fault
        return None

    def _route(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: Any, verdict: str | None
    ) -> tuple[int, Any]:
        if (method, path) == ("POST", "/generate-token"):
            return self._generate_token(headers)
        if not self._authorised(headers):
            return 401, {"message": "Unauthorized"}
        posts: dict[str, Callable[[dict[str, Any]], tuple[int, Any]]] = {
            "/payments/initiate-ussd-push-request": self._initiate_ussd_push,
            "/payments/initiate-card-payment": self._initiate_card_payment,
            "/checkout-link/generate-checkout-url": self._generate_checkout_link,
            "/payouts/preview-mobile-money-payout": lambda fields: self._payout(fields, bank=False, create=False),
            "/payouts/create-mobile-money-payout": lambda fields: self._payout(fields, bank=False, create=True),
            "/payouts/preview-bank-payout": lambda fields: self._payout(fields, bank=True, create=False),
            "/payouts/create-bank-payout": lambda fields: self._payout(fields, bank=True, create=True),
        }
        if method == "POST" and path in posts:
            if not isinstance(body, dict):
                raise _Refusal(400, "Invalid request body")
            if self.config.key and verdict != checksum.ChecksumResult.VALID:
                raise _Refusal(400, "Invalid checksum")
            return posts[path](body)
        if method == "GET":
            if path == "/account/balance":
                return self._balance()
            if path == "/account/statement":
                return self._statement_answer(query)
            if path == "/list/banks":
                return 200, [
                    {"name": name, "value": name.replace(" ", "_"), "bic": bic} for bic, name in _BANKS.items()
                ]
            if match := re.fullmatch(r"/payments/([^/]+)", path):
                return self._query_payment(match.group(1))
            if match := re.fullmatch(r"/payouts/([^/]+)", path):
                return self._query_payout(match.group(1))
        return 404, {"message": f"Cannot {method} {path}"}

    def _generate_token(self, headers: dict[str, str]) -> tuple[int, Any]:
        client_id, api_key = headers.get("client-id", ""), headers.get("api-key", "")
        if not client_id or not api_key:
            return 401, {"message": "Unauthorized"}
        expected = (self.config.client_id, self.config.api_key)
        if all(expected) and (client_id, api_key) != expected:
            return 403, {"message": "Invalid client details"}
        token = f"Bearer sim-{secrets.token_hex(16)}"
        with self._lock:
            self._tokens[token] = time.monotonic() + _TOKEN_SECONDS
        return 200, {"success": True, "token": token}

    def _authorised(self, headers: dict[str, str]) -> bool:
        with self._lock:
            expires = self._tokens.get(headers.get("authorization", ""))
        return expires is not None and expires > time.monotonic()

    # payments

    def _ussd_fields(self, fields: dict[str, Any]) -> tuple[Decimal, str, str, str]:
        reference = _reference(fields)
        raw_amount = fields.get("amount")
        if not isinstance(raw_amount, str):
            raise _Refusal(400, "amount must be a string")
        amount = _amount(raw_amount)
        currency = _currency(fields)
        phone = fields.get("phoneNumber")
        if not isinstance(phone, str) or not _PHONE.fullmatch(phone):
            raise _Refusal(400, "Invalid / unsupported phone number")
        return amount, currency, reference, phone

    def _initiate_ussd_push(self, fields: dict[str, Any]) -> tuple[int, Any]:
        amount, currency, reference, phone = self._ussd_fields(fields)
        payment = self._open_payment(
            reference, amount, currency, phone, _OPERATORS.get(phone[:5], _OPERATORS["25575"])[0]
        )
        return 200, {
            "id": payment.id,
            "status": payment.status,
            "channel": payment.channel,
            "orderReference": reference,
            "collectedAmount": payment.amount,
            "collectedCurrency": currency,
            "createdAt": _iso(payment.created_at),
        }

    def _initiate_card_payment(self, fields: dict[str, Any]) -> tuple[int, Any]:
        """A card payment: the buyer "pays" on the returned link at once, as the plan for the reference says."""
        reference = _reference(fields)
        raw_amount = fields.get("amount")
        if not isinstance(raw_amount, str):
            raise _Refusal(400, "amount must be a string")
        customer = fields.get("customer")
        if not isinstance(customer, dict) or not customer.get("id"):
            raise _Refusal(400, "customer.id is required")
        self._open_payment(reference, _amount(raw_amount), _currency(fields), "", "CARD")
        return 200, {"cardPaymentLink": f"{self.url}/pay/card/{reference}", "clientId": self._client}

    def _generate_checkout_link(self, fields: dict[str, Any]) -> tuple[int, Any]:
        """A hosted checkout page: the buyer "pays" there by M-Pesa at once, as the plan says."""
        reference = _reference(fields)
        raw_amount = fields.get("totalPrice")
        if not isinstance(raw_amount, str):
            raise _Refusal(400, "totalPrice must be a string")
        currency = fields.get("orderCurrency")
        if currency not in ("TZS", "USD"):
            raise _Refusal(400, "orderCurrency must be TZS or USD")
        self._open_payment(reference, _amount(raw_amount), currency, "", "M-PESA")
        return 200, {"checkoutLink": f"{self.url}/checkout/{reference}", "clientId": self._client}

    def _open_payment(self, reference: str, amount: Decimal, currency: str, phone: str, channel: str) -> SimPayment:
        """Record a payment and schedule its outcome's webhook; a reused reference is a 409."""
        now = datetime.now(UTC)
        with self._lock:
            if reference in self._payments:
                raise _Refusal(409, _reference_used(reference))
            outcome = "failed" if self._outcome(reference, mixed=_MIXED_PAYMENTS) == "failed" else "success"
            number = next(self._ids)
            payment = SimPayment(
                id=f"{reference}LCP{number:04d}",
                order_reference=reference,
                amount=amount_text(amount),
                currency=currency,
                phone_number=phone,
                channel=channel,
                payment_reference=f"SIM{number:010d}",
                outcome=outcome,
                status="PROCESSING",
                message="",
                created_at=now,
                updated_at=now,
            )
            self._payments[reference] = payment
            self._schedule("payment", reference, ("FAILED",) if outcome == "failed" else ("SUCCESS",))
            return payment

    def _query_payment(self, reference: str) -> tuple[int, Any]:
        with self._lock:
            payment = self._payments.get(reference)
            if payment is None:
                return 404, {"message": f"Invalid or missing payment: {reference}"}
            return 200, [payment.as_json(self._client)]

    # payouts

    def _payout(self, fields: dict[str, Any], *, bank: bool, create: bool) -> tuple[int, Any]:
        reference = _reference(fields)
        raw_amount = fields.get("amount")
        if isinstance(raw_amount, str | bool) or not isinstance(raw_amount, int | Decimal):
            raise _Refusal(400, "amount must be a number")
        amount = _amount(raw_amount)
        currency = _currency(fields)
        if bank:
            destination = _required(fields, "accountNumber")
            bic = _required(fields, "bic")
            transfer_type = fields.get("transferType")
            if transfer_type not in ("ACH", "RTGS"):
                raise _Refusal(400, "transferType must be ACH or RTGS")
            name = _required(fields, "accountName") if create else str(fields.get("accountName") or "")
            provider = _BANKS.get(bic, f"BANK {bic}")
            beneficiary = {"accountNumber": destination, "accountName": name}
            fee = (amount * _BANK_FEE_RATE).quantize(_CENT, ROUND_HALF_UP)
        else:
            destination = fields.get("phoneNumber")
            if not isinstance(destination, str) or not _PHONE.fullmatch(destination):
                raise _Refusal(400, "Invalid / unsupported phone number")
            transfer_type = ""
            name = destination
            provider = _OPERATORS.get(destination[:5], _OPERATORS["25575"])[1]
            beneficiary = {"accountNumber": destination, "accountName": name, "beneficiaryMobileNumber": destination}
            fee = (amount * _MOBILE_FEE_RATE).quantize(_CENT, ROUND_HALF_UP)
        total = amount + fee

        with self._lock:
            if reference in self._payouts:
                raise _Refusal(409, _reference_used(reference))
            balance = self._balances.get(currency, Decimal("0.00"))
            if total > balance:
                raise _Refusal(400, f"Insufficient balance: available balance is {amount_text(balance)} {currency}")
            if not create:
                return 200, {
                    "amount": total,
                    "balance": balance,
                    "channelProvider": provider,
                    "fee": fee,
                    "exchanged": False,
                    "order": {"amount": amount, "currency": currency, "id": reference},
                    "payoutFeeBearer": "merchant",
                    "receiver": {
                        "accountName": name,
                        "accountNumber": destination,
                        "accountCurrency": "TZS",
                        "amount": amount,
                    },
                }
            self._check_cooldown(destination)
            now = datetime.now(UTC)
            outcome = self._outcome(reference, mixed=_MIXED_PAYOUTS)
            payout = SimPayout(
                id=f"SIMPAY{next(self._ids):06d}",
                order_reference=reference,
                amount=amount,
                fee=fee,
                currency=currency,
                channel="BANK TRANSFER" if bank else "MOBILE MONEY",
                channel_provider=provider,
                beneficiary=beneficiary,
                transfer_type=transfer_type,
                outcome=outcome,
                status="AUTHORIZED",
                created_at=now,
                updated_at=now,
            )
            self._payouts[reference] = payout
            self._move(currency, amount, "Debit", "Payout", reference)
            self._move(currency, fee, "Debit", "Fee - Payout", reference)
            self._schedule("payout", reference, _PAYOUT_STEPS[outcome])
            return 200, {
                **payout.as_json(),
                "exchanged": False,
                "order": {"amount": _money(amount), "currency": currency},
                "clientId": self._client,
            }

    def _over_rate_limit(self) -> bool:
        """True when this request is beyond ``rate_limit`` in the last ``rate_window`` seconds (lock held)."""
        if not self.config.rate_limit:
            return False
        now = time.monotonic()
        while self._request_times and now - self._request_times[0] >= self.config.rate_window:
            self._request_times.popleft()
        if len(self._request_times) >= self.config.rate_limit:
            return True
        self._request_times.append(now)
        return False

    @property
    def refusals(self) -> list[tuple[str, int, str]]:
        """Every request refused for the rate limit (429) or a cool-down (400): (path, status, message)."""
        with self._lock:
            return list(self._refusals)

    def _check_cooldown(self, destination: str) -> None:
        """Refuse a payout to a destination paid less than ``cooldown`` seconds ago, or any payout
        within ``merchant_cooldown`` seconds of the last one (lock held)."""
        now = time.monotonic()
        last_any = self._last_create
        if self.config.merchant_cooldown and last_any is not None and now - last_any < self.config.merchant_cooldown:
            wait = max(math.ceil(self.config.merchant_cooldown - (now - last_any)), 1)
            message = f"Payout request is already in progress, please retry after {wait} seconds"
            self._refusals.append(("create-payout", 400, message))
            raise _Refusal(400, message)
        last = self._last_payout_to.get(destination)
        if self.config.cooldown and last is not None and now - last < self.config.cooldown:
            wait = math.ceil(self.config.cooldown - (now - last))
            message = f"Payout request is already in progress, please retry after {wait} seconds"
            self._refusals.append(("create-payout", 400, message))
            raise _Refusal(400, message)
        self._last_payout_to[destination] = now
        self._last_create = now

    def _query_payout(self, reference: str) -> tuple[int, Any]:
        with self._lock:
            payout = self._payouts.get(reference)
            if payout is None:
                return 404, {"message": f"Invalid or missing payout: {reference}"}
            return 200, [payout.as_json()]

    # account

    def _balance(self) -> tuple[int, Any]:
        with self._lock:
            return 200, [{"currency": currency, "balance": amount} for currency, amount in self._balances.items()]

    def _statement_answer(self, query: dict[str, str]) -> tuple[int, Any]:
        currency = query.get("currency", "")
        if currency not in ("TZS", "USD"):
            raise _Refusal(400, "Invalid currency: currency must be either TZS or USD")
        try:
            start = date.fromisoformat(query["startDate"]) if query.get("startDate") else date.min
            end = date.fromisoformat(query["endDate"]) if query.get("endDate") else date.max
        except ValueError:
            raise _Refusal(400, "Invalid date: use YYYY-MM-DD") from None
        with self._lock:
            rows = [row for row in self._statement if row.currency == currency and start <= row.date.date() <= end]
        credits = sum((row.amount for row in rows if row.entry == "Credit"), Decimal("0.00"))
        debits = sum((row.amount for row in rows if row.entry == "Debit"), Decimal("0.00"))
        closing = rows[-1].balance if rows else Decimal("0.00")
        return 200, {
            "accountDetails": {
                "currency": currency,
                "openingBalance": closing - credits + debits,
                "closingBalance": closing,
                "totalCredits": credits,
                "totalDebits": debits,
            },
            "transactions": [row.as_json() for row in rows],
        }


def _reference(fields: dict[str, Any]) -> str:
    reference = fields.get("orderReference")
    if not isinstance(reference, str) or not _REFERENCE.fullmatch(reference):
        raise _Refusal(400, "Invalid Order Reference, should only contain alphanumeric characters and cannot be blank")
    return reference


def _reference_used(reference: str) -> str:
    return f"Order reference {reference} already used: Create a different reference"


def _amount(value: object) -> Decimal:
    try:
        return parse_money(value, "amount")
    except PayloadError as exc:
        raise _Refusal(400, str(exc)) from None


def _currency(fields: dict[str, Any]) -> str:
    currency = fields.get("currency")
    if currency not in ("TZS", "USD"):
        raise _Refusal(400, "Invalid currency: currency must be either TZS or USD")
    return currency


def _required(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _Refusal(400, f"{name} is required")
    return value


class _Handler(BaseHTTPRequestHandler):
    """HTTP front of the simulator: decode, hand to :meth:`ClickPesaSimulator.handle`, encode."""

    server_version = "ClickPesaSimulator/1"

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        simulator: ClickPesaSimulator = self.server.simulator  # type: ignore[attr-defined]
        status, answer = simulator.handle(method, self.path, headers, raw)
        data = encode_json(answer)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("the caller left before the answer to %s %s", method, self.path)

    def log_message(self, fmt: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), fmt % args)
