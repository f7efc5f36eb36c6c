"""Deployment check: /metrics is not for everyone in production."""

from django.conf import settings
from django.core.checks import CheckMessage, Error


def check_metrics_token(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """monitoring.E001 when DEBUG is off and MONITORING_METRICS_TOKEN is empty: /metrics would tell
    anyone the payouts in flight, the webhook backlog and the ledger audit's verdict."""
    if settings.DEBUG or settings.MONITORING_METRICS_TOKEN:
        return []
    return [
        Error(
            "MONITORING_METRICS_TOKEN is empty, so /metrics answers anyone.",
            hint="Set MONITORING_METRICS_TOKEN to a long random value and give it to the scraper "
            "(Authorization: Bearer <token>).",
            id="monitoring.E001",
        )
    ]
