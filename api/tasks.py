"""Celery tasks of the API: thin wrappers."""

from celery import shared_task

from .idempotency import idempotency_prune


@shared_task
def idempotency_records_prune() -> int:
    """Forget idempotency keys older than API_IDEMPOTENCY_KEEP_HOURS (beat, hourly)."""
    return idempotency_prune()
