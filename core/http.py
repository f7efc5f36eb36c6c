"""Who sent a request, by the project's one trusted-proxy rule (webhooks, admin logins, rate limits)."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """The address of whoever sent the request, honouring ``settings.TRUSTED_PROXY_COUNT``.

    With N trusted proxies, each appends the address it saw to X-Forwarded-For, so the
    sender is the N-th entry from the right; entries further left were written by the
    sender itself and are never trusted. With no proxies, or fewer entries than proxies
    (the request did not come through them), it is the socket's address. ``None`` when the
    chosen value is not an IP address.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    candidate = request.META.get("REMOTE_ADDR", "")
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None
