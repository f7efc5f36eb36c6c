"""Missed-webhook recovery: ask ClickPesa about payments and payouts whose news is overdue.

ClickPesa's webhooks can be lost. A periodic task (:func:`poll_due`) asks ClickPesa's query API
about every payment still PENDING after ``CLICKPESA_POLL_PAYMENTS_AFTER_MINUTES`` and every
payout in flight (PROCESSING, or PENDING after a submission attempt) after
``CLICKPESA_POLL_PAYOUTS_AFTER_MINUTES``, at most once per that period each.

Each answer is rewritten as the webhook ClickPesa would have sent (``PAYMENT RECEIVED``,
``PAYMENT FAILED``, ``PAYOUT INITIATED``, ``PAYOUT REFUNDED``, ``PAYOUT REVERSED``; the data
keeps the webhook's fields) and handed to the receiver
(:func:`clickpesa.receiver.webhook_event_ingest`) as a ``WebhookEvent`` with source ``poll``.
So the same handlers apply it, it sits in the same audit trail, and it dedupes against the
real webhook: a late delivery with the same content is counted as a duplicate, and one with
other content finds the payment or payout already moved (``IGNORED``), never a second effect.

ClickPesa has no failed-payout webhook; a payout the query reports FAILED travels as
``PAYOUT INITIATED`` with status ``FAILED``, which the payout handler reads by its status. A
payment still in progress at ClickPesa changes nothing and stores no event. A payment whose
USSD push was never accepted and that ClickPesa has no record of is failed with that reason:
nobody can pay a push that was never sent.

:func:`poll_payment` and :func:`poll_payout` ask about one row on demand (support's
"Re-query ClickPesa"); :func:`poll_since` asks about everything not final since a date
(``manage.py clickpesa_reconcile``).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from payments.models import Payment
from revenue.models import Payout

from .client import ClickPesaClient, ClickPesaError, GatewayPayment, GatewayPayout
from .models import WebhookEvent
from .payloads import GatewayStatus, PayloadError
from .receiver import webhook_event_ingest

logger = logging.getLogger(__name__)

PAYMENT_RECEIVED = "PAYMENT RECEIVED"
PAYMENT_FAILED = "PAYMENT FAILED"
PAYOUT_INITIATED = "PAYOUT INITIATED"

# The fields of each webhook's ``data`` (PROTOCOL.md, older names included), in which a
# query's answer is passed on: the same content as the webhook, so that the two dedupe.
PAYMENT_RECEIVED_FIELDS = (
    "id",
    "paymentId",
    "status",
    "paymentReference",
    "orderReference",
    "collectedAmount",
    "collectedCurrency",
    "amount",
    "currency",
    "message",
    "channel",
    "clientId",
    "createdAt",
    "updatedAt",
    "customer",
)
PAYMENT_FAILED_FIELDS = ("id", "status", "orderReference", "message", "channel", "clientId", "createdAt", "updatedAt")
PAYOUT_FIELDS = (
    "id",
    "orderReference",
    "amount",
    "fee",
    "currency",
    "status",
    "channel",
    "channelProvider",
    "settlementType",
    "transferType",
    "notes",
    "beneficiary",
    "createdAt",
    "updatedAt",
    "refund",
    "reverse",
)
PAYOUT_EVENTS = {GatewayStatus.REFUNDED: "PAYOUT REFUNDED", GatewayStatus.REVERSED: "PAYOUT REVERSED"}
PAYMENT_SUCCESS = (GatewayStatus.SUCCESS, GatewayStatus.SETTLED)

_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PollResult:
    """What asking ClickPesa about one payment or payout gave.

    ``gateway_status`` is ClickPesa's status word (``""`` when it has no record or the query
    failed); ``event`` the stored poll event, if one was made; ``error`` the query's failure;
    ``detail`` one sentence for people.
    """

    kind: str
    reference: str
    gateway_status: str
    detail: str
    event: WebhookEvent | None = None
    error: str = ""

    @property
    def outcome(self) -> str:
        """``error``, ``unknown`` (no record at ClickPesa), ``no event`` (still in progress), or the event's status."""
        if self.error:
            return "error"
        if self.event is None:
            return "no event" if self.gateway_status else "unknown"
        return self.event.status


@dataclass
class PollSummary:
    """Every result of one polling run."""

    results: list[PollResult] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        """How many results had each :attr:`PollResult.outcome`."""
        return Counter(result.outcome for result in self.results)

    @property
    def errors(self) -> list[PollResult]:
        return [result for result in self.results if result.error]


def _client(client: ClickPesaClient | None) -> AbstractContextManager[ClickPesaClient]:
    """The caller's client, left open for its next call, or a new one closed after this one."""
    return nullcontext(client) if client is not None else ClickPesaClient()


def _headers(by: object | None) -> dict[str, str]:
    if by is None:
        return {"user-agent": "blinno poller"}
    return {"user-agent": "blinno re-query", "x-requested-by": str(getattr(by, "username", by))}


def _data(raw: Mapping[str, Any], names: Iterable[str], reference: str) -> dict[str, Any]:
    data = {name: raw[name] for name in names if name in raw}
    data.setdefault("orderReference", reference)
    return data


def _latest(answers: list[Any]) -> Any:
    return max(answers, key=lambda a: a.updated_at or a.created_at or _LONG_AGO, default=None)


def _ingest(
    kind: str, reference: str, gateway_status: str, body: dict[str, Any], *, endpoint: str, by: object | None
) -> PollResult:
    try:
        processing = webhook_event_ingest(body, endpoint=endpoint, headers=_headers(by))
    except PayloadError as exc:
        logger.warning("poll %s %s: ClickPesa's answer is unusable: %s", kind, reference, exc)
        return PollResult(kind, reference, gateway_status, f"unusable answer: {exc}", error=str(exc))
    event = processing.event
    if not processing.ran:
        detail = f"ClickPesa says {gateway_status}; already recorded as event #{event.pk} ({event.status})"
    else:
        detail = f"ClickPesa says {gateway_status}; event #{event.pk} {event.status}: {event.detail or event.error}"
    return PollResult(kind, reference, gateway_status, detail, event=event)


def poll_payment(payment: Payment, *, by: object | None = None, client: ClickPesaClient | None = None) -> PollResult:
    """Ask ClickPesa about one payment and apply the answer as its webhook would be applied."""
    reference = payment.reference
    Payment.objects.filter(pk=payment.pk).update(last_polled_at=timezone.now())
    try:
        with _client(client) as api:
            answers: list[GatewayPayment] = api.query_payment(order_reference=reference)
    except ClickPesaError as exc:
        logger.warning("poll payment %s failed: %s: %s", reference, exc.code, exc)
        return PollResult("payment", reference, "", f"query failed: {exc}", error=f"{exc.code}: {exc}")

    # Money collected is what matters most; otherwise the latest word.
    answer = next((a for a in answers if a.status in PAYMENT_SUCCESS), None) or _latest(answers)
    endpoint = WebhookEvent.Endpoint.PAYMENTS
    if answer is None:
        payment.refresh_from_db(fields=["status", "push_sent_at", "last_error"])
        if payment.status == Payment.Status.PENDING and payment.push_sent_at is None and payment.last_error:
            reason = f"ClickPesa has no record of this payment; the USSD push failed: {payment.last_error}"
            data = {"orderReference": reference, "status": GatewayStatus.FAILED.value, "message": reason}
            body = {"event": PAYMENT_FAILED, "data": data}
            return _ingest("payment", reference, "", body, endpoint=endpoint, by=by)
        return PollResult("payment", reference, "", "ClickPesa has no record of this payment")
    if answer.status in PAYMENT_SUCCESS:
        body = {"event": PAYMENT_RECEIVED, "data": _data(answer.raw, PAYMENT_RECEIVED_FIELDS, reference)}
    elif answer.status == GatewayStatus.FAILED:
        body = {"event": PAYMENT_FAILED, "data": _data(answer.raw, PAYMENT_FAILED_FIELDS, reference)}
    else:
        return PollResult("payment", reference, answer.raw_status, f"ClickPesa says {answer.raw_status}; no change")
    return _ingest("payment", reference, answer.raw_status, body, endpoint=endpoint, by=by)


def poll_payout(payout: Payout, *, by: object | None = None, client: ClickPesaClient | None = None) -> PollResult:
    """Ask ClickPesa about one payout and apply the answer as its webhook would be applied."""
    reference = payout.reference
    Payout.objects.filter(pk=payout.pk).update(last_polled_at=timezone.now())
    try:
        with _client(client) as api:
            answer: GatewayPayout | None = _latest(api.query_payout(order_reference=reference))
    except ClickPesaError as exc:
        logger.warning("poll payout %s failed: %s: %s", reference, exc.code, exc)
        return PollResult("payout", reference, "", f"query failed: {exc}", error=f"{exc.code}: {exc}")
    if answer is None:
        return PollResult("payout", reference, "", "ClickPesa has no record of this payout")
    event = PAYOUT_EVENTS.get(answer.status, PAYOUT_INITIATED)
    body = {"event": event, "data": _data(answer.raw, PAYOUT_FIELDS, reference)}
    return _ingest("payout", reference, answer.raw_status, body, endpoint=WebhookEvent.Endpoint.PAYOUTS, by=by)


def _in_flight_payouts() -> QuerySet[Payout]:
    """Payouts ClickPesa may hold and has not finished: PROCESSING, or PENDING after an attempt."""
    attempted = Q(submitted_at__isnull=False) | Q(submission_attempts__gt=0)
    return Payout.objects.filter(Q(status=Payout.Status.PROCESSING) | (Q(status=Payout.Status.PENDING) & attempted))


def _claim(model: type[Payment] | type[Payout], pk: int, *, cutoff: datetime, now: datetime) -> bool:
    """Take one row for this run: its last poll must be older than ``cutoff`` (two runs never both ask)."""
    recent = Q(last_polled_at__isnull=False, last_polled_at__gte=cutoff)
    return model.objects.filter(~recent, pk=pk).update(last_polled_at=now) == 1


def poll_due(*, limit: int = 200) -> PollSummary:
    """Ask ClickPesa about every payment and payout whose webhook is overdue (see the module docstring).

    Oldest first, at most ``limit`` of each per run; a row is asked about at most once per its
    period, even by two runs at once. A failed query is logged and kept in the summary; the
    next run asks again.
    """
    now = timezone.now()
    payments_cutoff = now - timedelta(minutes=settings.CLICKPESA_POLL_PAYMENTS_AFTER_MINUTES)
    payouts_cutoff = now - timedelta(minutes=settings.CLICKPESA_POLL_PAYOUTS_AFTER_MINUTES)
    not_recent = Q(last_polled_at__isnull=True)
    payments = Payment.objects.filter(
        not_recent | Q(last_polled_at__lt=payments_cutoff),
        status=Payment.Status.PENDING,
        created_at__lte=payments_cutoff,
    )
    payouts = _in_flight_payouts().filter(
        not_recent | Q(last_polled_at__lt=payouts_cutoff), created_at__lte=payouts_cutoff
    )
    summary = PollSummary()
    with ClickPesaClient() as client:
        for payment in payments.order_by("created_at")[:limit]:
            if _claim(Payment, payment.pk, cutoff=payments_cutoff, now=now):
                summary.results.append(poll_payment(payment, client=client))
        for payout in payouts.order_by("created_at")[:limit]:
            if _claim(Payout, payout.pk, cutoff=payouts_cutoff, now=now):
                summary.results.append(poll_payout(payout, client=client))
    _log_summary("poll", summary)
    return summary


def poll_since(since: datetime) -> PollSummary:
    """Ask ClickPesa about every payment and payout created since ``since`` that is not final.

    Payments still PENDING; payouts PROCESSING, or PENDING after a submission attempt (one never
    attempted cannot be at ClickPesa). No period applies: each is asked now.
    """
    summary = PollSummary()
    with ClickPesaClient() as client:
        for payment in Payment.objects.filter(status=Payment.Status.PENDING, created_at__gte=since).order_by("pk"):
            summary.results.append(poll_payment(payment, client=client))
        for payout in _in_flight_payouts().filter(created_at__gte=since).order_by("pk"):
            summary.results.append(poll_payout(payout, client=client))
    _log_summary("reconcile", summary)
    return summary


def _log_summary(what: str, summary: PollSummary) -> None:
    if summary.results:
        counts = ", ".join(f"{outcome}={count}" for outcome, count in sorted(summary.counts.items()))
        logger.info("clickpesa %s: %d asked: %s", what, len(summary.results), counts)
