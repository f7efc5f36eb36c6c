from django.apps import AppConfig
from django.core import checks


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People"

    def ready(self) -> None:
        from .checks import check_two_factor

        checks.register(check_two_factor, checks.Tags.security, deploy=True)
