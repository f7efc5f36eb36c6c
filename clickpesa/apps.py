from django.apps import AppConfig
from django.core import checks


class ClickpesaConfig(AppConfig):
    name = "clickpesa"
    verbose_name = "ClickPesa"

    def ready(self) -> None:
        from .checks import check_api_credentials, check_webhook_signing

        checks.register(check_webhook_signing, checks.Tags.security)
        checks.register(check_api_credentials)
