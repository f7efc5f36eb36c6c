from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Operational signals: /healthz, /metrics and the periodic alerts to staff. No models."""

    name = "monitoring"
    verbose_name = "Monitoring"
