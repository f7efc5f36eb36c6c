from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """Work across payments and revenue: statement reconciliation and the staff's tools over both."""

    name = "backoffice"
    verbose_name = "Back office"

    def ready(self) -> None:
        from core import queues

        from .queues import QUEUES

        queues.register(*QUEUES)
