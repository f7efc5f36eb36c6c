"""WSGI entry point (gunicorn blinno.wsgi, configured by blinno/gunicorn_conf.py).

The application is wrapped so that a client that declares a body and then stalls cannot hold
a server thread for ever: under gunicorn, reading the body gives up after
``BODY_IDLE_SECONDS`` without a byte, or ``BODY_TOTAL_SECONDS`` in all, and the request is
answered 400 (Django's answer to ``BadRequest``).
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import BadRequest
from django.core.wsgi import get_wsgi_application

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


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinno.settings")
application = body_deadline(get_wsgi_application())
