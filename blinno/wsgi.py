"""WSGI entry point (gunicorn blinno.wsgi, configured by blinno/gunicorn_conf.py).

The application is wrapped so that a client that declares a body and then stalls cannot hold
a server thread for ever: under gunicorn, reading the body gives up after
``BODY_IDLE_SECONDS`` without a byte, or ``BODY_TOTAL_SECONDS`` in all, and the request is
answered 400 (Django's answer to ``BadRequest``).

ClickPesa's webhook URLs are served by a second Django handler with only
:data:`WEBHOOK_MIDDLEWARE`: the same URLs, view and receiver, without the middleware that serves
people (sessions, language, CSRF, users, second factor, messages, lockouts).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import BadRequest
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.db import connection
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils.module_loading import import_string

BODY_IDLE_SECONDS = 10.0
"""Longest wait for the next bytes of a request body."""

BODY_TOTAL_SECONDS = 120.0
"""Longest time a whole request body may take (a statement upload on a slow line included)."""


class _DeadlineInput:
    """``wsgi.input`` whose reads wait on the socket for at most the idle and total limits."""

    def __init__(self, stream: Any, sock: socket.socket) -> None:
        self._stream = stream
        self._sock = sock
        self._deadline = time.monotonic() + BODY_TOTAL_SECONDS

    def _call(self, method: Callable[..., bytes], *args: Any) -> bytes:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise BadRequest(f"the request body did not arrive within {BODY_TOTAL_SECONDS:.0f} s")
        self._sock.settimeout(min(BODY_IDLE_SECONDS, remaining))
        try:
            return method(*args)
        except TimeoutError:
            raise BadRequest("the request body stopped arriving") from None
        finally:
            self._sock.settimeout(None)

    def read(self, *args: Any) -> bytes:
        return self._call(self._stream.read, *args)

    def readline(self, *args: Any) -> bytes:
        return self._call(self._stream.readline, *args)

    def readlines(self, *args: Any) -> list[bytes]:
        return list(self)

    def __iter__(self) -> _DeadlineInput:
        return self

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line


def body_deadline(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """Wrap a WSGI application so that its request bodies are read within the limits above."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            environ["wsgi.input"] = _DeadlineInput(environ["wsgi.input"], sock)
        return app(environ, start_response)

    return wrapped


WEBHOOK_MIDDLEWARE = (
    "core.http.ForwardedHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.http.RefuseNulMiddleware",
)
"""The middleware of MIDDLEWARE a webhook passes through, in its order (a test keeps them in step).

The rest reads cookies, languages and users a server posting signed JSON never has; skipping it
took a quarter to a third off an acknowledgement's Python in process (bench/README.md)."""


class WebhookHandler(WSGIHandler):
    """Django's WSGI handler with :data:`WEBHOOK_MIDDLEWARE` instead of MIDDLEWARE; the rest is Django's."""

    def load_middleware(self, is_async: bool = False) -> None:
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for path in reversed(WEBHOOK_MIDDLEWARE):
            handler = convert_exception_to_response(import_string(path)(handler))
        self._middleware_chain = handler

    def get_response(self, request: HttpRequest) -> HttpResponseBase:
        # No connection check (CONN_HEALTH_CHECKS) before a delivery: it cost every delivery a
        # round trip, and the receiver's one statement finds a dropped connection itself and
        # runs again on a new one (clickpesa.inbox.store).
        connection.health_check_done = True
        return super().get_response(request)


def by_path(
    site: Callable[..., Iterable[bytes]], webhooks: Callable[..., Iterable[bytes]], webhook_paths: frozenset[str]
) -> Callable[..., Iterable[bytes]]:
    """Send requests for ``webhook_paths`` (exact paths, any method) to ``webhooks``, all others to ``site``."""

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handler = webhooks if environ.get("PATH_INFO") in webhook_paths else site
        return handler(environ, start_response)

    return dispatch


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinno.settings")
_site = get_wsgi_application()
WEBHOOK_PATHS = frozenset((reverse("payments:webhook"), reverse("revenue:payouts-webhook")))
"""The URLs ClickPesa posts to (PATH_INFO: without the script name)."""
application = body_deadline(by_path(_site, WebhookHandler(), WEBHOOK_PATHS))
