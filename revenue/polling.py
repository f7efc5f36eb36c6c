"""Missed payout webhooks: ask ClickPesa about payouts in flight whose news is overdue.

A payout PROCESSING, or PENDING after a submission attempt, is asked about after
``CLICKPESA_POLL_PAYOUTS_AFTER_MINUTES`` and then at most once per that period. The answer
travels as the webhook ClickPesa would have sent (``PAYOUT INITIATED``, ``PAYOUT REFUNDED``,
``PAYOUT REVERSED``) through clickpesa.polling. ClickPesa has no failed-payout webhook: a payout
the query reports FAILED travels as ``PAYOUT INITIATED`` with status ``FAILED``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from clickpesa.client import ClickPesaClient, ClickPesaError, session
from clickpesa.models import WebhookEvent
from clickpesa.payloads import PAYOUT_INITIATED, PAYOUT_REFUNDED, PAYOUT_REVERSED, GatewayStatus
from clickpesa.polling import PollResult, PollSummary, ingest_answer, latest, poll_overdue
from core.users import User

from .models import Payout

logger = logging.getLogger(__name__)

PAYOUT_EVENTS = {GatewayStatus.REFUNDED: PAYOUT_REFUNDED, GatewayStatus.REVERSED: PAYOUT_REVERSED}

# The fields of a payout webhook's ``data`` (docs/clickpesa.md), in which a query's answer is
# passed on: the same content as the webhook, so that the two dedupe.
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


def poll_payout(payout: Payout, *, by: User | None = None, client: ClickPesaClient | None = None) -> PollResult:
    """Ask ClickPesa about one payout and apply the answer as its webhook would be applied."""
    reference = payout.reference
    Payout.objects.filter(pk=payout.pk).update(last_polled_at=timezone.now())
    try:
        with session(client) as api:
            answer = latest(api.query_payout(order_reference=reference))
    except ClickPesaError as exc:
        logger.warning("poll payout %s failed: %s: %s", reference, exc.code, exc)
        return PollResult("payout", reference, "", f"query failed: {exc}", error=f"{exc.code}: {exc}")
    if answer is None:
        return PollResult("payout", reference, "", "ClickPesa has no record of this payout")
    fields = {name: answer.raw[name] for name in PAYOUT_FIELDS if name in answer.raw}
    return ingest_answer(
        "payout",
        event_name=PAYOUT_EVENTS.get(answer.status, PAYOUT_INITIATED) if answer.status else PAYOUT_INITIATED,
        data=answer,
        fields=fields,
        gateway_status=answer.raw_status,
        endpoint=WebhookEvent.Endpoint.PAYOUTS,
        by=by,
    )


def payouts_in_flight() -> QuerySet[Payout]:
    """Payouts ClickPesa may hold and has not finished: PROCESSING, or PENDING after an attempt."""
    attempted = Q(submitted_at__isnull=False) | Q(submission_attempts__gt=0)
    return Payout.objects.filter(Q(status=Payout.Status.PROCESSING) | (Q(status=Payout.Status.PENDING) & attempted))


def poll_payouts_due(*, limit: int = 200, client: ClickPesaClient | None = None) -> PollSummary:
    """Ask ClickPesa about every payout in flight whose webhook is overdue (see the module docstring)."""
    return poll_overdue(
        payouts_in_flight(),
        period=timedelta(minutes=settings.CLICKPESA_POLL_PAYOUTS_AFTER_MINUTES),
        ask=lambda payout, api: poll_payout(payout, client=api),
        what="poll payouts",
        limit=limit,
        client=client,
    )


def poll_payouts_since(since: datetime, *, client: ClickPesaClient) -> PollSummary:
    """Ask ClickPesa now about every payout created since ``since`` that may be at ClickPesa and is not final."""
    summary = PollSummary()
    for payout in payouts_in_flight().filter(created_at__gte=since).order_by("pk"):
        summary.results.append(poll_payout(payout, client=client))
    summary.log("reconcile payouts")
    return summary
