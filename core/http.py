"""Who sent a request, by the project's one trusted-proxy rule (webhooks, admin logins, rate limits).

A reverse proxy is trusted when the peer's address is in ``settings.TRUSTED_PROXY_ADDRESSES``
(addresses or networks) and ``settings.TRUSTED_PROXY_COUNT`` is above zero: only then are its
X-Forwarded-For (:func:`client_address`) and X-Forwarded-Proto
(:class:`ForwardedHeadersMiddleware`) believed. From anyone else they are the sender's own words.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def is_trusted_proxy(address: str) -> bool:
    """Whether ``address`` is one of the configured reverse proxies (never, without TRUSTED_PROXY_COUNT)."""
    if settings.TRUSTED_PROXY_COUNT <= 0:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(settings.TRUSTED_PROXY_ADDRESSES)))


def client_address(request: HttpRequest) -> str | None:
    """The address of whoever sent the request, honouring the trusted proxies.

    With N trusted proxies, each appends the address it saw to X-Forwarded-For, so the
    sender is the N-th entry from the right; entries further left were written by the
    sender itself and are never trusted. The header is read only when the socket's peer is
    a trusted proxy, and each proxy hop on the way must be one too; otherwise, or with
    fewer entries than proxies (the request did not come through them), it is the socket's
    address. ``None`` when the chosen value is not an IP address.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    candidate = request.META.get("REMOTE_ADDR", "")
    if proxies > 0 and is_trusted_proxy(candidate):
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if len(forwarded) >= proxies:
            hops = forwarded[-proxies:]
            # hops[1:] were written by the proxies in front of the peer: each must be trusted too.
            if all(is_trusted_proxy(hop) for hop in hops[1:]):
                candidate = hops[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


class ForwardedHeadersMiddleware:
    """Drop X-Forwarded-Proto unless a trusted proxy sent the request.

    Django's SecurityMiddleware and ``request.is_secure()`` read it (SECURE_PROXY_SSL_HEADER):
    from a client that reached the service directly it would pass plain HTTP off as HTTPS.
    First in MIDDLEWARE, before anything reads it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "HTTP_X_FORWARDED_PROTO" in request.META and not is_trusted_proxy(request.META.get("REMOTE_ADDR", "")):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)


class RefuseNulMiddleware:
    """Answer 400 to a request whose path or query string holds a NUL character.

    PostgreSQL text cannot hold one: a staff search or filter carrying it would fail in the
    database with a 500. Forms are covered by Django's own validator; this covers GET parameters.
    Under ``/api/`` (the storefront API, ClickPesa's webhooks) the answer is JSON in the API's
    error shape, naming the parameter (or ``path``); elsewhere it is plain text.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = _nul_in(request)
        if where is None:
            return self.get_response(request)
        message = "A NUL character is not allowed in a URL."
        if request.path_info.startswith("/api/"):
            error = {"code": "nul_in_url", "message": message, "field": where.replace("\x00", "\ufffd")}
            return JsonResponse({"error": error}, status=400)
        return HttpResponseBadRequest(f"{message}\n", content_type="text/plain")


def _nul_in(request: HttpRequest) -> str | None:
    """Where a NUL is: ``"path"``, the name of the first query parameter holding one, or ``None``."""
    if "\x00" in request.path:
        return "path"
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return name
    return None
