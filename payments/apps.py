from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        # Registers the payment webhook handlers with clickpesa.handlers.
        from . import webhooks  # noqa: F401
