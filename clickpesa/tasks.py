"""Celery tasks of the webhook inbox: thin wrappers around clickpesa.inbox."""

from __future__ import annotations

import logging
import threading
import time

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


@shared_task(acks_late=True)
def webhook_settle() -> int:
    """Settle RECEIVED events in batches until none is left; return how many were settled.

    Nudged after a queued webhook's commit and run by beat as the sweep of lost nudges. A
    worker killed mid-batch leaves that batch's transaction rolled back and its events RECEIVED,
    for the next nudge or sweep.
    """
    settled = 0
    while batch := inbox.settle_batch():
        settled += batch.settled
        for processing in batch.failures:
            webhook_event_retry_enqueue(processing)
    return settled


NUDGE_WINDOW = 0.25
"""Seconds: a process publishes at most one nudge at once and one delayed to the window's end per window.

A publish costs the request about a millisecond of CPU and the settler a task: at 0.05 s a
gunicorn worker serving 60 deliveries a second published two nudges for every three of them.
At 0.25 s it is one for about eight, and a delivery waits at most this long more to be settled."""

_nudges = threading.Lock()
_window_end = 0.0
_delayed_for = -1.0


def webhook_settle_nudge() -> None:
    """Ask a settler to run after this commit; never raises (the beat sweep settles what a lost nudge leaves).

    Under load one process publishes at most two messages per :data:`NUDGE_WINDOW`: one now
    when the window opens, and one due at its end for the deliveries committed meanwhile, so
    every committed delivery has a settler starting after its commit. Run in-process (no
    broker) it settles now.
    """
    global _window_end, _delayed_for
    if webhook_settle.app.conf.task_always_eager:
        _publish(0.0)
        return
    now = time.monotonic()
    with _nudges:
        if now >= _window_end:
            _window_end, countdown = now + NUDGE_WINDOW, 0.0
        elif _delayed_for != _window_end:
            _delayed_for, countdown = _window_end, _window_end - now
        else:
            return
    _publish(countdown)


def _publish(countdown: float) -> None:
    try:
        if countdown:
            webhook_settle.apply_async(countdown=countdown)
        else:
            # No countdown at all when due now: a message with an ETA waits on the worker's timer.
            webhook_settle.apply_async()
    except Exception:
        logger.warning("webhook settle nudge not published (broker unavailable); the sweep will settle")


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
