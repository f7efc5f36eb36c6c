"""Celery tasks of the webhook inbox: thin wrappers around clickpesa.inbox."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from . import inbox

logger = logging.getLogger(__name__)


@shared_task(acks_late=True)
def webhook_event_retry(event_id: int) -> bool:
    """Retry one failed event if it is due and unclaimed; plan the next retry if it fails again."""
    processing = inbox.retry_due(event_id)
    if processing is None:
        return False
    webhook_event_retry_enqueue(processing)
    return not processing.failed


@shared_task
def webhook_events_retry_sweep() -> int:
    """Retry every due event; scheduled by Celery beat."""
    return inbox.retry_sweep()


@shared_task
def webhook_bodies_prune() -> int:
    """Empty old refused and ignored bodies (CLICKPESA_WEBHOOK_BODY_RETENTION_DAYS); scheduled by Celery beat."""
    return inbox.prune_bodies(older_than_days=settings.CLICKPESA_WEBHOOK_BODY_RETENTION_DAYS)


def webhook_event_retry_enqueue(processing: inbox.Processing) -> None:
    """Enqueue the retry a failed processing planned (its backoff as countdown); never raises.

    With the broker down the sweep retries the event when it is due.
    """
    event = processing.event
    if not processing.failed or event.next_attempt_at is None:
        return
    try:
        webhook_event_retry.apply_async((event.pk,), eta=event.next_attempt_at)
    except Exception:
        logger.warning("webhook event=%s retry not enqueued (broker unavailable); the sweep will retry it", event.pk)
