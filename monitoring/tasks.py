"""Celery tasks of monitoring: thin wrappers around monitoring.alerts."""

from dataclasses import asdict

from celery import shared_task

from . import alerts


@shared_task
def monitoring_alerts_check() -> dict:
    """Check for DEAD events, a high webhook failure rate and stuck payouts, and alert staff; run by Celery beat."""
    return asdict(alerts.alerts_check())
