"""System checks: a production deployment must authenticate ClickPesa's webhooks and reach its API."""

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


def check_api_credentials(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """clickpesa.W002 when DEBUG is off without API credentials: payouts and USSD pushes would
    wait PENDING forever, quietly (submission does nothing without credentials)."""
    if settings.DEBUG or (settings.CLICKPESA_CLIENT_ID and settings.CLICKPESA_API_KEY):
        return []
    return [
        Warning(
            "CLICKPESA_CLIENT_ID or CLICKPESA_API_KEY is not set: payouts will not be submitted to ClickPesa.",
            hint="Set both from the ClickPesa merchant dashboard.",
            id="clickpesa.W002",
        )
    ]
