"""Celery tasks for the outbox: thin wrappers around notifications.services."""

from celery import shared_task

from . import services


@shared_task(bind=True, acks_late=True, max_retries=None)
def notification_deliver(self, notification_id: int) -> bool:
    """Send one notification; after a failure, run again when the row's backoff says it is due.

    The row counts attempts and turns FAILED at its limit, so retries end there (hence no
    Celery retry limit). A retry that cannot be published, or a task lost with its worker,
    is picked up by `notifications_sweep`.
    """
    try:
        return services.notification_send(notification_id)
    except services.NotificationRetry as exc:
        if self.request.is_eager:
            # In-process (no broker) a retry would run at once, ignoring the backoff: leave
            # the row PENDING for the sweeper instead.
            return False
        raise self.retry(exc=exc, countdown=exc.retry_in) from exc


@shared_task
def notifications_sweep() -> int:
    """Re-enqueue undelivered notifications and take back those of dead workers; run by Celery beat."""
    return services.notifications_sweep()
