"""Celery tasks for the outbox: thin wrappers around notifications.delivery."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from . import delivery

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
    """Send each notification of one transaction (one broker message for all); return how many were sent.

    A row whose send fails is retried alone, by `notification_deliver` when its backoff says
    it is due; the others go on. A worker lost mid-batch leaves the message unacknowledged:
    redelivered, it skips the rows already sent (each send claims its row first).
    """
    sent = 0
    for notification_id in notification_ids:
        try:
            sent += delivery.notification_send(notification_id)
        except delivery.NotificationRetry as exc:
            if notification_deliver_many.request.is_eager:
                continue  # in-process, as in notification_deliver: the sweeper retries it
            try:
                notification_deliver.apply_async((notification_id,), countdown=exc.retry_in)
            except Exception:
                # The row is PENDING with its due time: the sweeper sends it when the broker is back.
                logger.warning("notification %s: retry not enqueued; the sweeper will retry it", notification_id)
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
