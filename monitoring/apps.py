from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    """Operational signals: /healthz, /metrics and the periodic alerts to staff. No models."""

    name = "monitoring"
    verbose_name = "Monitoring"

    def ready(self) -> None:
        from clickpesa import registry

        from .alerts import dead_event_alert

        registry.on_dead(dead_event_alert)
