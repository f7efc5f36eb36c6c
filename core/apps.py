from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app shares: errors, money, upserts, references, backoff, the admin base."""

    name = "core"
    verbose_name = "Core"
