from django.apps import AppConfig


class RevenueConfig(AppConfig):
    name = "revenue"
    verbose_name = "Revenue"

    def ready(self) -> None:
        # Registers the payout and deposit webhook handlers with clickpesa.handlers.
        from . import webhooks  # noqa: F401
