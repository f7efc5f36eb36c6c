"""System checks: a production deployment must authenticate ClickPesa's webhooks."""

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning


def check_webhook_signing(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """clickpesa.E001 when DEBUG is off and no checksum key is set, unless unsigned webhooks are
    explicitly allowed (then clickpesa.W001, since anyone could then post a payment)."""
    if settings.DEBUG or settings.CLICKPESA_CHECKSUM_KEY:
        return []
    if settings.CLICKPESA_ALLOW_UNSIGNED_WEBHOOKS:
        return [
            Warning(
                "ClickPesa webhooks are accepted without a checksum.",
                hint="Anyone who knows the URL can report a payment. Set CLICKPESA_CHECKSUM_KEY.",
                id="clickpesa.W001",
            )
        ]
    return [
        Error(
            "CLICKPESA_CHECKSUM_KEY is not set, so ClickPesa webhooks cannot be verified.",
            hint="Set CLICKPESA_CHECKSUM_KEY to the merchant's checksum key, or (knowingly) "
            "CLICKPESA_ALLOW_UNSIGNED_WEBHOOKS=true.",
            id="clickpesa.E001",
        )
    ]
