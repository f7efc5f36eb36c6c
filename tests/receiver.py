"""A storefront stand-in: a local HTTP server thread that records each POST (headers and raw body)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server: Any = self.server
        with server.lock:
            server.received.append((dict(self.headers.items()), raw))
            status = server.statuses.pop(0) if server.statuses else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt: str, *args: object) -> None:
        return


class Receiver:
    """Answers 204 unless ``answer(*statuses)`` queued other statuses for the next POSTs."""

    def __init__(self) -> None:
        self.server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.received = []
        self.server.statuses = []
        self.server.lock = threading.Lock()
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/blinno/events"

    def answer(self, *statuses: int) -> None:
        with self.server.lock:
            self.server.statuses.extend(statuses)

    @property
    def received(self) -> list[tuple[dict[str, str], bytes]]:
        with self.server.lock:
            return list(self.server.received)

    def verified(self, secret: str) -> list[dict[str, Any]]:
        """Every body received, each verified as the storefront would (raises on a bad signature)."""
        return [Webhook(secret).verify(raw, headers) for headers, raw in self.received]

    def types(self) -> list[str]:
        return [json.loads(raw)["type"] for _, raw in self.received]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
