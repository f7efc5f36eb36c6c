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

from clickpesa.client import ClickPesaClient, ClickPesaError, session
from clickpesa.models import WebhookEvent
from clickpesa.payloads import PAYMENT_FAILED, PAYMENT_RECEIVED, GatewayStatus, PaymentData, parse_payment
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
PAYMENT_SUCCESS = (GatewayStatus.SUCCESS, GatewayStatus.SETTLED)


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

    # Money collected is what matters most; otherwise the latest word.
    answer = next((a for a in answers if a.status in PAYMENT_SUCCESS), None) or latest(answers)
    if answer is None:
        payment.refresh_from_db(fields=["status", "push_sent_at", "last_error"])
        if payment.status == Payment.Status.PENDING and payment.push_sent_at is None and payment.last_error:
            reason = f"ClickPesa has no record of this payment; the USSD push failed: {payment.last_error}"
            fields = {"orderReference": reference, "status": GatewayStatus.FAILED.value, "message": reason}
            return _ingest(PAYMENT_FAILED, parse_payment(fields), fields, gateway_status="", by=by)
        return PollResult("payment", reference, "", "ClickPesa has no record of this payment")
    if answer.status in PAYMENT_SUCCESS:
        event_name, names = PAYMENT_RECEIVED, PAYMENT_RECEIVED_FIELDS
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


def poll_payments_since(since: datetime, *, client: ClickPesaClient) -> PollSummary:
    """Ask ClickPesa now about every payment created since ``since`` that is still PENDING."""
    summary = PollSummary()
    for payment in Payment.objects.filter(status=Payment.Status.PENDING, created_at__gte=since).order_by("pk"):
        summary.results.append(poll_payment(payment, client=client))
    summary.log("reconcile payments")
    return summary
