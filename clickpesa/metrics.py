"""Counted metrics of the webhook inbox (exposed by ``GET /metrics``, see monitoring.metrics).

Label values are bounded: an event name outside the registered handlers (anyone can POST any
name) is counted as ``other``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from prometheus_client import Counter, Histogram

from . import registry
from .models import WebhookEvent

logger = logging.getLogger(__name__)

WEBHOOKS = Counter(
    "blinno_webhooks",
    "Webhook deliveries (and poll answers) by endpoint, source, event and outcome",
    ["endpoint", "source", "event", "outcome"],
)
WEBHOOK_DURATION = Histogram(
    "blinno_webhook_duration_seconds",
    "Time from receiving a delivery to answering it, by endpoint and source",
    ["endpoint", "source"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

UNKNOWN_EVENT = "other"
THROTTLED = "throttled"


def webhook_outcome(http_status: int, answer: dict[str, Any]) -> str:
    """The outcome label of an answer: the 200 answer's status, ``rejected`` (4xx) or ``failed`` (5xx)."""
    if http_status >= 500:
        return "failed"
    if http_status >= 400:
        return "rejected"
    return str(answer.get("status") or "unknown")


def observe(event: WebhookEvent, answer: tuple[int, dict[str, Any]], started: float) -> None:
    """Log one answered delivery of ``event`` and count it with its duration since ``started`` (monotonic).

    One line per delivery: event id, endpoint, event name, reference, outcome and duration,
    never the body (it holds customers' phone numbers and emails). Never raises: metrics must
    not fail a webhook.
    """
    seconds = time.monotonic() - started
    http_status, body = answer
    outcome = body.get("status") or f"error: {body.get('error')}"
    logger.log(
        logging.WARNING if http_status >= 400 else logging.INFO,
        "webhook event=%s endpoint=%s name=%s reference=%s outcome=%s http=%s duration_ms=%d",
        event.pk,
        event.endpoint,
        json.dumps(event.event_name),
        json.dumps(event.order_reference),
        json.dumps(outcome),
        http_status,
        seconds * 1000,
    )
    try:
        name = event.event_name if registry.lookup(event.event_name) else UNKNOWN_EVENT
        WEBHOOKS.labels(event.endpoint, event.source, name, webhook_outcome(*answer)).inc()
        WEBHOOK_DURATION.labels(event.endpoint, event.source).observe(seconds)
    except Exception:
        logger.exception("webhook event=%s could not be counted in the metrics", event.pk)


def observe_throttled(endpoint: str, started: float) -> None:
    """Count and log a refusal answered 429 and not stored (its sender is past the refusals rate)."""
    logger.warning("webhook endpoint=%s outcome=throttled http=429 (refusals rate exceeded; not stored)", endpoint)
    WEBHOOKS.labels(endpoint, "webhook", UNKNOWN_EVENT, THROTTLED).inc()
    WEBHOOK_DURATION.labels(endpoint, "webhook").observe(time.monotonic() - started)
