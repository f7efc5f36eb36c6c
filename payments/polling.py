"""Missed payment webhooks: ask ClickPesa about payments still PENDING after a while.

A payment PENDING for ``CLICKPESA_POLL_PAYMENTS_AFTER_MINUTES`` is asked about, then at most
once per that period. A success travels as ``PAYMENT RECEIVED``, a failure as ``PAYMENT FAILED``,
through clickpesa.polling (so the same handler applies it and a late webhook is a duplicate);
a payment still in progress at ClickPesa changes nothing and stores no event. A payment whose
USSD push was never accepted, and that ClickPesa has no record of, is failed with that reason:
nobody can pay a push that was never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from clickpesa.client import ClickPesaClient, ClickPesaError, requests_this_minute, session
from clickpesa.models import WebhookEvent
from clickpesa.payloads import (
    PAYMENT_FAILED,
    PAYMENT_RECEIVED,
    PAYMENT_REVERSED,
    GatewayStatus,
    PaymentData,
    parse_payment,
)
from clickpesa.polling import PollResult, PollSummary, ingest_answer, latest, poll_overdue
from core.users import User

from .models import Payment

logger = logging.getLogger(__name__)

# The fields of each webhook's ``data`` (docs/clickpesa.md, older names included), in which a
# query's answer is passed on: the same content as the webhook, so that the two dedupe.
PAYMENT_RECEIVED_FIELDS: tuple[str, ...] = (
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
PAYMENT_FAILED_FIELDS: tuple[str, ...] = (
    "id",
    "status",
    "orderReference",
    "message",
    "channel",
    "clientId",
    "createdAt",
    "updatedAt",
)
# A reversal is passed on with what it says about itself (message, when, charges).
PAYMENT_REVERSED_FIELDS: tuple[str, ...] = (*PAYMENT_RECEIVED_FIELDS, "reverse", "refund", "charges")
PAYMENT_SUCCESS = (GatewayStatus.SUCCESS, GatewayStatus.SETTLED)
PAYMENT_RETURNED = (GatewayStatus.REFUNDED, GatewayStatus.REVERSED)


def recheck_next(completed_at: datetime, *, after: datetime) -> datetime | None:
    """The first moment of ``CLICKPESA_RECHECK_SCHEDULE_HOURS`` (ages of a completed payment) later
    than ``after``; ``None`` once the window has closed."""
    for hours in sorted(settings.CLICKPESA_RECHECK_SCHEDULE_HOURS):
        due = completed_at + timedelta(hours=hours)
        if due > after:
            return due
    return None


def poll_payment(payment: Payment, *, by: User | None = None, client: ClickPesaClient | None = None) -> PollResult:
    """Ask ClickPesa about one payment and apply the answer as its webhook would be applied."""
    reference = payment.reference
    Payment.objects.filter(pk=payment.pk).update(last_polled_at=timezone.now())
    try:
        with session(client) as api:
            answers = api.query_payment(order_reference=reference)
    except ClickPesaError as exc:
        logger.warning("poll payment %s failed: %s: %s", reference, exc.code, exc)
        return PollResult("payment", reference, "", f"query failed: {exc}", error=f"{exc.code}: {exc}")

    # Money given back matters most, then money collected; otherwise the latest word.
    answer = (
        next((a for a in answers if a.status in PAYMENT_RETURNED), None)
        or next((a for a in answers if a.status in PAYMENT_SUCCESS), None)
        or latest(answers)
    )
    if answer is None:
        payment.refresh_from_db(fields=["status", "push_sent_at", "last_error"])
        if payment.status == Payment.Status.PENDING and payment.push_sent_at is None and payment.last_error:
            reason = f"ClickPesa has no record of this payment; the USSD push failed: {payment.last_error}"
            fields = {"orderReference": reference, "status": GatewayStatus.FAILED.value, "message": reason}
            return _ingest(PAYMENT_FAILED, parse_payment(fields), fields, gateway_status="", by=by)
        return PollResult("payment", reference, "", "ClickPesa has no record of this payment")
    if answer.status in PAYMENT_SUCCESS:
        event_name, names = PAYMENT_RECEIVED, PAYMENT_RECEIVED_FIELDS
    elif answer.status in PAYMENT_RETURNED:
        event_name, names = PAYMENT_REVERSED, PAYMENT_REVERSED_FIELDS
    elif answer.status == GatewayStatus.FAILED:
        event_name, names = PAYMENT_FAILED, PAYMENT_FAILED_FIELDS
    else:
        return PollResult("payment", reference, answer.raw_status, f"ClickPesa says {answer.raw_status}; no change")
    fields = {name: answer.raw[name] for name in names if name in answer.raw}
    fields.setdefault("orderReference", reference)
    return _ingest(event_name, answer, fields, gateway_status=answer.raw_status, by=by)


def _ingest(
    event_name: str,
    data: PaymentData,
    fields: Mapping[str, object],
    *,
    gateway_status: str,
    by: User | None,
) -> PollResult:
    return ingest_answer(
        "payment",
        event_name=event_name,
        data=data,
        fields=fields,
        gateway_status=gateway_status,
        endpoint=WebhookEvent.Endpoint.PAYMENTS,
        by=by,
    )


def poll_payments_due(*, limit: int = 200, client: ClickPesaClient | None = None) -> PollSummary:
    """Ask ClickPesa about every PENDING payment whose webhook is overdue (see the module docstring)."""
    return poll_overdue(
        Payment.objects.filter(status=Payment.Status.PENDING),
        period=timedelta(minutes=settings.CLICKPESA_POLL_PAYMENTS_AFTER_MINUTES),
        ask=lambda payment, api: poll_payment(payment, client=api),
        what="poll payments",
        limit=limit,
        client=client,
    )


def recheck_completed_due(*, limit: int = 200, client: ClickPesaClient | None = None) -> PollSummary:
    """Ask ClickPesa whether completed payments came back (REFUNDED, REVERSED), as each one's re-check falls due.

    Each completed payment is asked about at the ages of ``CLICKPESA_RECHECK_SCHEDULE_HOURS``
    (``next_recheck_at``), oldest due first, each claimed with a compare-and-set that moves it
    to its next age, so two runs never ask twice. The re-checks can wait, so they use only
    what is left of this minute's shared allowance (``CLICKPESA_REQUESTS_PER_MINUTE``) above
    ``CLICKPESA_RECHECK_RESERVE_PER_MINUTE``: payments and payouts in flight keep the rest,
    and what is left over waits for the next run. A payment that came back is applied by the
    payment handler (``PAYMENT REVERSED``) and re-checked no more.
    """
    now = timezone.now()
    room = settings.CLICKPESA_REQUESTS_PER_MINUTE - settings.CLICKPESA_RECHECK_RESERVE_PER_MINUTE
    summary = PollSummary()
    due = Payment.objects.filter(status=Payment.Status.COMPLETED, next_recheck_at__lte=now).order_by("next_recheck_at")
    with session(client) as api:
        for payment in due[:limit]:
            if requests_this_minute() >= room:
                break
            assert payment.completed_at is not None  # a completed payment has its moment
            claimed = Payment.objects.filter(pk=payment.pk, next_recheck_at=payment.next_recheck_at).update(
                next_recheck_at=recheck_next(payment.completed_at, after=now)
            )
            if claimed:
                summary.results.append(poll_payment(payment, client=api))
    summary.log("recheck completed payments")
    return summary


def poll_payments_since(since: datetime, *, client: ClickPesaClient) -> PollSummary:
    """Ask ClickPesa now about every payment created since ``since`` that is still PENDING."""
    summary = PollSummary()
    for payment in Payment.objects.filter(status=Payment.Status.PENDING, created_at__gte=since).order_by("pk"):
        summary.results.append(poll_payment(payment, client=client))
    summary.log("reconcile payments")
    return summary
