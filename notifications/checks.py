"""Deployment check: customer emails must really leave the service in production."""

import base64

from django.conf import settings
from django.core.checks import CheckMessage, Error

UNDELIVERED_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend": "prints them to the log",
    "django.core.mail.backends.locmem.EmailBackend": "keeps them in memory",
    "django.core.mail.backends.dummy.EmailBackend": "drops them",
    "django.core.mail.backends.filebased.EmailBackend": "writes them to files",
}
"""Django's email backends that deliver nothing, and what they do with a message instead."""


def check_email_delivery(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """notifications.E001 when DEBUG is off and EMAIL_BACKEND delivers nothing, unless that was chosen
    (EMAIL_ALLOW_UNDELIVERED): customers' receipts and payout notices would be counted as sent."""
    what = UNDELIVERED_BACKENDS.get(settings.EMAIL_BACKEND)
    if settings.DEBUG or what is None or settings.EMAIL_ALLOW_UNDELIVERED:
        return []
    return [
        Error(
            f"EMAIL_BACKEND is {settings.EMAIL_BACKEND}: it {what}, so no customer email is delivered "
            "while notifications count as sent.",
            hint="Set EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST, EMAIL_PORT, "
            "EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS; or, knowingly, EMAIL_ALLOW_UNDELIVERED=true.",
            id="notifications.E001",
        )
    ]


def check_storefront_webhook(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """notifications.E002 when a storefront URL is set without a usable ``whsec_`` secret to sign with."""
    if not settings.STOREFRONT_WEBHOOK_URL:
        return []
    secret = settings.STOREFRONT_WEBHOOK_SECRET
    try:
        usable = secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) >= 24
    except ValueError:
        usable = False
    if usable:
        return []
    return [
        Error(
            "STOREFRONT_WEBHOOK_URL is set but STOREFRONT_WEBHOOK_SECRET is not a whsec_ secret: "
            "the storefront could not verify its events.",
            hint="Set STOREFRONT_WEBHOOK_SECRET=whsec_ followed by 24 or more random bytes in base64 "
            "(python -c 'import base64,os; print(\"whsec_\" + base64.b64encode(os.urandom(32)).decode())').",
            id="notifications.E002",
        )
    ]
