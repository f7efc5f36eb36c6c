from django.apps import AppConfig
from django.core import checks


class MonitoringConfig(AppConfig):
    """Operational signals: /healthz, /metrics and the periodic alerts to staff. No models."""

    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from clickpesa import registry

        from .alerts import dead_event_alert
        from .checks import check_metrics_token

        registry.on_dead(dead_event_alert)
        checks.register(check_metrics_token, checks.Tags.security, deploy=True)
