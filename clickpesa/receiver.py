"""The HTTP front of the inbox, shared by every ClickPesa endpoint: check, store, apply, answer.

Size (413), content type (415), envelope (400), checksum (401) and typed data (400) are
checked first, and every refusal is kept as a REJECTED event; then the delivery is stored (a
repeat of a finished event answers ``duplicate``) and applied by clickpesa.inbox. The envelope
and the typed data are parsed once; the handler receives the typed data.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from core.http import client_address

from . import inbox, registry, tasks
from .checksum import ChecksumResult, verify
from .metrics import observe
from .models import WebhookEvent
from .payloads import Envelope, PayloadError, dedupe_key, parse_envelope

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status

CHECKSUM_HEADER = "X-ClickPesa-Checksum"
"""Where some integrations put the checksum; used only when the body carries none."""

KEPT_HEADERS = ("Content-Type", "User-Agent", "X-Forwarded-For", "X-Request-Id", CHECKSUM_HEADER)
"""Request headers stored on the event. Never cookies or credentials."""


class _Refused(Exception):
    """A request the pipeline answers with a 4xx and keeps as REJECTED."""

    def __init__(self, http_status: int, reason: str, *, raw: bytes | None = None, checksum_result: str = "") -> None:
        super().__init__(reason)
        self.http_status = http_status
        self.reason = reason
        self.raw = raw
        self.checksum_result = checksum_result


def receive(request: HttpRequest, *, endpoint: str) -> tuple[int, dict[str, Any]]:
    """Run one POSTed webhook through the pipeline; return the HTTP status and the JSON answer.

    Answers ``{"status": "processed" | "duplicate" | "ignored" | "unmatched" | "stale",
    "event": id}`` with 200, or ``{"error": reason, "event": id}`` with 400, 401, 413, 415 or
    500. Logs one line per request: event id, endpoint, event name, reference, outcome and
    duration, never the body (it holds customers' phone numbers and emails).
    """
    started = time.monotonic()
    record: dict[str, Any] = {
        "endpoint": endpoint,
        "headers": {
            name.lower(): inbox.clean_text(request.headers[name], 500)
            for name in KEPT_HEADERS
            if name in request.headers
        },
        "remote_addr": client_address(request),
    }
    raw = b""
    try:
        raw = _read_body(request)
        envelope = _parse(raw)
        record.update(_describe(envelope))
        record["checksum_result"] = _verify(envelope, request.headers.get(CHECKSUM_HEADER))
        data = _typed_data(envelope, record["checksum_result"])
    except _Refused as refusal:
        event = inbox.store_rejected(
            {**record, "checksum_result": refusal.checksum_result},
            body=_decode(raw if refusal.raw is None else refusal.raw),
            reason=refusal.reason,
        )
        answer = refusal.http_status, {"error": refusal.reason, "event": event.pk}
        observe(event, answer, started)
        return answer

    event, first = inbox.store(record, _decode(raw))
    if not first and event.status in WebhookEvent.FINAL_STATUSES:
        answer = 200, {"status": "duplicate", "event": event.pk}
    else:
        processing = inbox.process(event.pk, allowed=WebhookEvent.REDELIVERABLE_STATUSES, data=data)
        tasks.webhook_event_retry_enqueue(processing)
        answer = processing.answer()
        event = processing.event
    observe(event, answer, started)
    return answer


def _read_body(request: HttpRequest) -> bytes:
    """Read at most the limit plus one byte: a larger body is refused without being read whole."""
    limit = settings.CLICKPESA_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    raw = request.read(limit + 1)
    if declared > limit or len(raw) > limit:
        raise _Refused(413, f"body larger than {limit} bytes", raw=raw[:limit])
    content_type = request.content_type or ""  # None only on a bare HttpRequest; WSGI and ASGI requests set it
    if content_type.lower() != "application/json":
        shown = inbox.clean_text(content_type, 60) or "none"
        raise _Refused(415, f"content type must be application/json, not {shown!r}", raw=raw)
    return raw


def _parse(raw: bytes) -> Envelope:
    try:
        return parse_envelope(raw)
    except PayloadError as exc:
        raise _Refused(400, str(exc)) from None


def _describe(envelope: Envelope) -> dict[str, Any]:
    status = envelope.data.get("status")
    return {
        "event_name": inbox.clean_text(envelope.event, 60),
        "order_reference": inbox.clean_text(envelope.order_reference or "", 64),
        "gateway_status": inbox.clean_text(status if isinstance(status, str) else "", 30),
        "dedupe_key": dedupe_key(envelope.body),
    }


def _verify(envelope: Envelope, header_checksum: str | None) -> str:
    """Check the body's checksum (or the header's, when the body has none); refuse with 401 unless valid."""
    key = settings.CLICKPESA_CHECKSUM_KEY
    provided = header_checksum if envelope.checksum is None and header_checksum else None
    result = verify(envelope.body, key, provided=provided)
    if result == ChecksumResult.VALID:
        return result
    if result == ChecksumResult.NOT_CONFIGURED:
        # Only a developer's machine, or a deployment that says so explicitly, takes unsigned bodies.
        if settings.DEBUG or settings.CLICKPESA_ALLOW_UNSIGNED_WEBHOOKS:
            return result
        raise _Refused(401, "checksum key not configured; unsigned webhooks are refused", checksum_result=result)
    raise _Refused(401, f"checksum {ChecksumResult(result).label.lower()}", checksum_result=result)


def _typed_data(envelope: Envelope, checksum_result: str) -> Any:
    """The event's data as its handler takes it (``None`` for an event nobody handles)."""
    registration = registry.lookup(envelope.event)
    if registration is None:
        return None
    try:
        return registration.parse(envelope)
    except PayloadError as exc:
        raise _Refused(400, str(exc), checksum_result=checksum_result) from None


def _decode(raw: bytes) -> str:
    return bytes(raw).decode("utf-8", errors="replace")
