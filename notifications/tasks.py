"""Celery tasks for the outbox: thin wrappers around notifications.services."""

from celery import shared_task

from . import services


@shared_task(bind=True, max_retries=8, acks_late=True)
def notification_deliver(self, notification_id: int) -> bool:
    """Send one notification; on failure retry with exponential backoff (30 s, 60 s, ... 1 h)."""
    try:
        return services.notification_send(notification_id)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=min(3600, 30 * 2**self.request.retries)) from exc


@shared_task
def notifications_sweep() -> int:
    """Re-enqueue notifications left PENDING; scheduled by Celery beat."""
    return services.notifications_sweep()
