"""System check: forwarded headers are believed only from proxies the deployment names."""

import ipaddress

from django.conf import settings
from django.core.checks import CheckMessage, Error


def check_trusted_proxies(app_configs: object = None, **kwargs: object) -> list[CheckMessage]:
    """core.E001 when TRUSTED_PROXY_COUNT is set without TRUSTED_PROXY_ADDRESSES (no peer would be
    believed, and every client would share the proxy's address), core.E002 when an address is invalid."""
    problems: list[CheckMessage] = []
    for entry in settings.TRUSTED_PROXY_ADDRESSES:
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            problems.append(
                Error(
                    f"TRUSTED_PROXY_ADDRESSES holds {entry!r}, which is not an address or a network.",
                    id="core.E002",
                )
            )
    if settings.TRUSTED_PROXY_COUNT > 0 and not settings.TRUSTED_PROXY_ADDRESSES:
        problems.append(
            Error(
                "TRUSTED_PROXY_COUNT is set but TRUSTED_PROXY_ADDRESSES is empty: X-Forwarded-For and "
                "X-Forwarded-Proto are believed from no peer.",
                hint="Set TRUSTED_PROXY_ADDRESSES to the reverse proxies' addresses or networks "
                "(comma-separated), or TRUSTED_PROXY_COUNT=0 when nothing stands in front.",
                id="core.E001",
            )
        )
    return problems
