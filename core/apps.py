from django.apps import AppConfig
from django.core import checks


class CoreConfig(AppConfig):
    """What every app shares: errors, money, upserts, references, backoff, the admin base."""

    name = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from .checks import check_trusted_proxies

        checks.register(check_trusted_proxies, checks.Tags.security)
