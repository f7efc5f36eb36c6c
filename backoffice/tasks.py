"""Celery tasks for the back-office: thin wrappers around its modules."""

from __future__ import annotations

from celery import shared_task

from . import home


@shared_task
def volumes_refresh() -> int:
    """Rewrite the home page's stored volumes of the last 30 ended days (hourly, Celery beat)."""
    return home.volumes_refresh()
