"""Delivering storefront events: claim a row, POST it signed, record the attempt; sweep what was left.

Each POST is signed in the Standard Webhooks format (``webhook-id``, ``webhook-timestamp``,
``webhook-signature``; the ``standardwebhooks`` package) with settings.STOREFRONT_WEBHOOK_SECRET.
Delivery is at least once: the storefront deduplicates by ``webhook-id``, the same on every
attempt. A row is claimed with a compare-and-set (PENDING -> SENDING); a non-2xx answer or
none sends it back to PENDING with backoff (``core.backoff``); after
STOREFRONT_WEBHOOK_MAX_ATTEMPTS it is DEAD (monitoring alerts Support). Every attempt is a
:class:`StorefrontDelivery` row.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db.models import F
from django.utils import timezone
from standardwebhooks import Webhook

from core.backoff import CLAIM_LEASE, retry_delay

from .models import StorefrontDelivery, StorefrontEvent

logger = logging.getLogger(__name__)

Status = StorefrontEvent.Status
SWEEP_BATCH = 500
TIMEOUT_SECONDS = 10
_ERROR_MAX = 2000


class StorefrontRetry(Exception):
    def __init__(self, event_id: int, retry_in: int) -> None:
        super().__init__(f"storefront event {event_id}: retry in {retry_in} s")
        self.retry_in = retry_in


def signed_headers(message_id: str, body: str, *, at: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers for ``body``, signed with STOREFRONT_WEBHOOK_SECRET."""
    at = at or timezone.now()
    signature = Webhook(settings.STOREFRONT_WEBHOOK_SECRET).sign(message_id, at, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
        "User-Agent": "Blinno-Money/1",
    }


def storefront_event_deliver(event_id: int) -> bool:
    """Claim a due PENDING event and POST it; True when the storefront took it (2xx).

    Raises :class:`StorefrontRetry` when it goes back to PENDING for a later attempt.
    """
    now = timezone.now()
    claimed = StorefrontEvent.objects.filter(pk=event_id, status=Status.PENDING, next_attempt_at__lte=now).update(
        status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    event = StorefrontEvent.objects.get(pk=event_id)
    body = json.dumps(event.payload, separators=(",", ":"))
    started = time.monotonic()
    status_code, error = None, ""
    try:
        response = requests.post(
            settings.STOREFRONT_WEBHOOK_URL,
            data=body.encode(),
            headers=signed_headers(event.message_id, body),
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}: {response.text[:500]}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"[:_ERROR_MAX]
    StorefrontDelivery.objects.create(
        event=event, status_code=status_code, error=error, duration_ms=int((time.monotonic() - started) * 1000)
    )
    return _record(event, error)


def _record(event: StorefrontEvent, error: str) -> bool:
    now = timezone.now()
    mine = StorefrontEvent.objects.filter(pk=event.pk, status=Status.SENDING, claimed_at=event.claimed_at)
    if not error:
        mine.update(status=Status.DELIVERED, delivered_at=now, last_error="")
        return True
    if event.attempts >= settings.STOREFRONT_WEBHOOK_MAX_ATTEMPTS:
        mine.update(status=Status.DEAD, last_error=error)
        logger.warning("storefront event %s dead after %d attempts: %s", event.pk, event.attempts, error)
        return False
    retry_in = int(retry_delay(event.attempts).total_seconds())
    mine.update(status=Status.PENDING, last_error=error, next_attempt_at=now + timedelta(seconds=retry_in))
    raise StorefrontRetry(event.pk, retry_in)


def storefront_events_sweep() -> list[int]:
    """Due PENDING events and SENDING ones whose worker died (claimed past the lease): their ids, to enqueue."""
    now = timezone.now()
    StorefrontEvent.objects.filter(status=Status.SENDING, claimed_at__lt=now - CLAIM_LEASE).update(
        status=Status.PENDING, next_attempt_at=now
    )
    due = StorefrontEvent.objects.filter(status=Status.PENDING, next_attempt_at__lte=now).order_by("next_attempt_at")
    return list(due.values_list("pk", flat=True)[:SWEEP_BATCH])
