"""Celery tasks for payments: thin wrappers around payments' modules."""

from celery import shared_task

from . import polling


@shared_task
def payments_poll() -> int:
    """Ask ClickPesa about payments whose webhook is overdue; scheduled by Celery beat."""
    return len(polling.poll_payments_due().results)


@shared_task
def payments_recheck() -> int:
    """Ask ClickPesa whether completed payments came back; scheduled by Celery beat every minute."""
    return len(polling.recheck_completed_due().results)
