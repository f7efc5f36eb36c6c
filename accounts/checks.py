"""Deployment check: staff sign in with a second factor in production."""

from django.conf import settings
from django.core.checks import CheckMessage, Error


def check_two_factor(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """accounts.E001 when DEBUG is off and ADMIN_REQUIRE_2FA is off: a guessed or phished staff
    password would then be enough to retry payouts and read customers' data."""
    if settings.DEBUG or settings.ADMIN_REQUIRE_2FA:
        return []
    return [
        Error(
            "ADMIN_REQUIRE_2FA is off with DEBUG off: staff can reach the admin with a password alone.",
            hint="Remove ADMIN_REQUIRE_2FA=false from the environment (it is on by default with DEBUG off).",
            id="accounts.E001",
        )
    ]
