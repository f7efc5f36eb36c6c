"""Celery tasks of the webhook inbox: thin wrappers around clickpesa.receiver."""

from celery import shared_task

from . import polling, receiver


@shared_task(acks_late=True)
def webhook_event_retry(event_id: int) -> bool:
    """Retry one failed event if it is due and unclaimed (enqueued with the backoff as countdown)."""
    return receiver.webhook_event_retry_due(event_id) is not None


@shared_task
def webhook_events_retry_sweep() -> int:
    """Retry every due event; scheduled by Celery beat."""
    return receiver.webhook_events_retry_sweep()


@shared_task
def clickpesa_poll() -> int:
    """Ask ClickPesa about payments and payouts whose webhook is overdue; scheduled by Celery beat."""
    return len(polling.poll_due().results)
