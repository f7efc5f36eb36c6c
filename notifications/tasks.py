"""Celery tasks for the outbox: thin wrappers around notifications.delivery."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from . import delivery, outbound

logger = logging.getLogger(__name__)

ENQUEUE_BATCH = 100
"""Notifications per Celery message: a webhook's three are one publish, a sweep's thousand ten."""


@shared_task(bind=True, acks_late=True, max_retries=None)
def notification_deliver(self: Task, notification_id: int) -> bool:
    """Send one notification; after a failure, run again when the row's backoff says it is due.

    The row counts attempts and turns FAILED at its limit, so retries end there (hence no
    Celery retry limit). A retry that cannot be published, or a task lost with its worker,
    is picked up by `notifications_sweep`.
    """
    try:
        return delivery.notification_send(notification_id)
    except delivery.NotificationRetry as exc:
        if self.request.is_eager:
            # In-process (no broker) a retry would run at once, ignoring the backoff: leave
            # the row PENDING for the sweeper instead.
            return False
        raise self.retry(exc=exc, countdown=exc.retry_in) from exc


@shared_task(acks_late=True)
def notification_deliver_many(notification_ids: list[int]) -> int:
    """Send the notifications of one transaction (one broker message, one claim, one mail connection).

    Returns how many were sent. A row whose send fails is retried alone, by
    `notification_deliver` when its backoff says it is due; the others go on. A worker lost
    mid-batch leaves the message unacknowledged: redelivered, it skips the rows already sent
    or claimed (the claim takes only PENDING rows; the sweeper takes back a lost claim).
    """
    sent, retries = delivery.notifications_send(notification_ids)
    if notification_deliver_many.request.is_eager:
        return sent  # in-process, as in notification_deliver: the sweeper retries the failures
    for retry in retries:
        try:
            notification_deliver.apply_async((retry.notification_id,), countdown=retry.retry_in)
        except Exception:
            # The row is PENDING with its due time: the sweeper sends it when the broker is back.
            logger.warning("notification %s: retry not enqueued; the sweeper will retry it", retry.notification_id)
    return sent


@shared_task
def notifications_sweep() -> int:
    """Re-enqueue undelivered notifications and take back those of dead workers; run by Celery beat."""
    due = delivery.notifications_sweep()
    notifications_enqueue(due)
    return len(due)


def notifications_enqueue(notification_ids: list[int]) -> None:
    """Enqueue delivery of the rows, :data:`ENQUEUE_BATCH` per message; never raises.

    With the broker down it stops rather than wait out a timeout per batch: the rows stay
    PENDING and the sweeper enqueues them when the broker is back.
    """
    for start in range(0, len(notification_ids), ENQUEUE_BATCH):
        try:
            notification_deliver_many.delay(notification_ids[start : start + ENQUEUE_BATCH])
        except Exception:
            logger.warning(
                "broker unavailable: %d notification(s) not enqueued; the sweeper will send them",
                len(notification_ids) - start,
                exc_info=True,
            )
            return


@shared_task(bind=True, acks_late=True, max_retries=None)
def storefront_event_deliver(self: Task, event_id: int) -> bool:
    """POST one storefront event; after a failure, run again when its backoff says (the row counts attempts)."""
    try:
        return outbound.storefront_event_deliver(event_id)
    except outbound.StorefrontRetry as exc:
        if self.request.is_eager:
            return False  # in-process: the sweeper sends it when due
        raise self.retry(exc=exc, countdown=exc.retry_in) from exc


@shared_task
def storefront_events_sweep() -> int:
    """Enqueue storefront events that are due or were left by a dead worker; run by Celery beat."""
    due = outbound.storefront_events_sweep()
    storefront_events_enqueue(due)
    return len(due)


def storefront_events_enqueue(event_ids: list[int]) -> None:
    """One task per event; never raises (with the broker down the sweeper sends them later)."""
    for event_id in event_ids:
        try:
            storefront_event_deliver.delay(event_id)
        except Exception:
            logger.warning("broker unavailable: storefront event %s not enqueued; the sweeper will send it", event_id)
            return
