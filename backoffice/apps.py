from django.apps import AppConfig


class BackofficeConfig(AppConfig):
    """Work across payments and revenue: statement reconciliation and the staff's tools over both."""

    name = "backoffice"
    verbose_name = "Back office"
