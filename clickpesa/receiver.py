"""The HTTP front of the inbox, shared by every ClickPesa endpoint: check, store, apply, answer.

Size (413, from the declared length before anything is read; 411 for a chunked body the
server cannot end), content type (415), envelope (400), checksum (401) and typed data (400)
are checked first, and every refusal is kept as a REJECTED event with the head of its body and
the whole body's hash; a client address past CLICKPESA_WEBHOOK_REFUSALS_RATE refusals is
answered 429 and nothing is stored. Then the delivery is stored (a repeat of a finished event
answers ``duplicate``). With ``CLICKPESA_WEBHOOK_SETTLE`` "queued" the stored delivery is
answered ``accepted`` and settled by the settler task in batches; "inline", it is applied by
clickpesa.inbox before the answer. The envelope and the typed data are parsed once; an inline
handler receives the typed data.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from typing import Any

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import HttpRequest
from django_ratelimit.core import get_usage

from core.http import client_address

from . import inbox, registry, tasks
from .checksum import ChecksumResult, verify
from .metrics import observe, observe_throttled
from .models import WebhookEvent
from .payloads import Envelope, PayloadError, dedupe_key, parse_envelope

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status

CHECKSUM_HEADERS = ("X-ClickPesa-Checksum", "X-ClickPesa-Signature")
"""Where third-party integrations and proxies put the checksum. The body's field wins; a header
that disagrees with it, or two headers that disagree, are refused."""

KEPT_HEADERS = ("Content-Type", "User-Agent", "X-Forwarded-For", "X-Request-Id", "Transfer-Encoding", *CHECKSUM_HEADERS)
"""Request headers stored on the event. Never cookies or credentials."""

REFUSALS_GROUP = "clickpesa.webhook-refusals"


class _Refused(Exception):
    """A request the pipeline answers with a 4xx and keeps as REJECTED."""

    def __init__(
        self, http_status: int, reason: str, *, raw: bytes | None = None, read: bool = True, checksum_result: str = ""
    ) -> None:
        super().__init__(reason)
        self.http_status = http_status
        self.reason = reason
        self.raw = raw
        self.read = read  # False when refused before the body was read: nothing to keep or hash
        self.checksum_result = checksum_result


def receive(request: HttpRequest, *, endpoint: str) -> tuple[int, dict[str, Any]]:
    """Run one POSTed webhook through the pipeline; return the HTTP status and the JSON answer.

    Answers ``{"status": "accepted" | "processed" | "duplicate" | "ignored" | "unmatched" |
    "stale", "event": id}`` with 200 (``accepted``: stored, to be settled), or
    ``{"error": reason, "event": id}`` with 400, 401, 413, 415 or 500. Logs one line per
    request: event id, endpoint, event name, reference, outcome and duration, never the body
    (it holds customers' phone numbers and emails).
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
        record["checksum_result"] = _verify(envelope, _header_checksum(request, envelope), request)
        data = _typed_data(envelope, record["checksum_result"])
    except _Refused as refusal:
        if _too_many_refusals(request):
            observe_throttled(endpoint, started)
            return 429, {"error": "too many refused requests from this address; not stored"}
        event = inbox.store_rejected(
            {**record, "checksum_result": refusal.checksum_result},
            raw=None if not refusal.read else raw if refusal.raw is None else refusal.raw,
            reason=refusal.reason,
        )
        answer = refusal.http_status, {"error": refusal.reason, "event": event.pk}
        observe(event, answer, started)
        return answer

    queued = settings.CLICKPESA_WEBHOOK_SETTLE == "queued"
    event, first = inbox.store(record, _decode(raw), requeue=queued)
    if not first and event.status in WebhookEvent.FINAL_STATUSES:
        answer = 200, {"status": "duplicate", "event": event.pk}
    elif queued:
        # Stored and committed: ClickPesa's 2xx means receipt. The settler applies it (clickpesa.tasks).
        tasks.webhook_settle_nudge()
        answer = 200, {"status": "accepted", "event": event.pk}
    else:
        processing = inbox.process(event.pk, allowed=WebhookEvent.REDELIVERABLE_STATUSES, data=data)
        tasks.webhook_event_retry_enqueue(processing)
        answer = processing.answer()
        event = processing.event
    observe(event, answer, started)
    return answer


def _read_body(request: HttpRequest) -> bytes:
    try:
        return _read_bounded(request)
    except BadRequest as exc:  # the server's body deadline (blinno.wsgi): the sender stalled
        raise _Refused(400, str(exc), read=False) from None


def _read_bounded(request: HttpRequest) -> bytes:
    """Read the body, never more than the limit plus one byte.

    A declared length over the limit is refused before a byte is read. A chunked body (no
    Content-Length) is read to its end when the server delimits it (gunicorn marks this with
    ``wsgi.input_terminated``), else refused with 411: read as empty it would be refused as
    malformed for no fault of the sender's.
    """
    limit = settings.CLICKPESA_WEBHOOK_MAX_BYTES
    length = request.META.get("CONTENT_LENGTH") or ""
    if length:
        try:
            declared = int(length)
        except ValueError:
            raise _Refused(400, "Content-Length is not a number", read=False) from None
        if declared > limit:
            raise _Refused(413, f"declared body of {declared} bytes is larger than {limit} bytes", read=False)
        raw = request.read(limit + 1)
    elif "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        if not request.META.get("wsgi.input_terminated"):
            raise _Refused(411, "a chunked body needs a server that delimits it; send Content-Length", read=False)
        raw = request.META["wsgi.input"].read(limit + 1)
    else:
        raw = b""
    if len(raw) > limit:
        raise _Refused(413, f"body larger than {limit} bytes", raw=raw)
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


def _header_checksum(request: HttpRequest, envelope: Envelope) -> str | None:
    """The checksum the headers carry, if the body has none; 401 when headers or body disagree."""
    given = {value.strip().lower() for name in CHECKSUM_HEADERS if (value := request.headers.get(name, "").strip())}
    if not given:
        return None
    body = envelope.checksum.strip().lower() if isinstance(envelope.checksum, str) else None
    if len(given) > 1 or (body and given != {body}):
        raise _Refused(401, "checksum headers disagree with each other or with the body")
    return None if body else given.pop()


def _verify(envelope: Envelope, header_checksum: str | None, request: HttpRequest) -> str:
    """Check the body's checksum (or the header's, when the body has none); refuse with 401 unless valid."""
    key = settings.CLICKPESA_CHECKSUM_KEY
    result = verify(envelope.body, key, provided=header_checksum)
    if result == ChecksumResult.VALID:
        return result
    if result == ChecksumResult.NOT_CONFIGURED:
        # Unsigned bodies only where a deployment says so, or from this machine in development.
        if settings.CLICKPESA_ALLOW_UNSIGNED_WEBHOOKS or (settings.DEBUG and _from_loopback(request)):
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


def _from_loopback(request: HttpRequest) -> bool:
    try:
        return ipaddress.ip_address(client_address(request) or "").is_loopback
    except ValueError:
        return False


def _too_many_refusals(request: HttpRequest) -> bool:
    """Count one refusal for the client's address; True once it is past CLICKPESA_WEBHOOK_REFUSALS_RATE.

    Fails open (the refusal is stored, cut to its head) when the cache is unreachable.
    """
    try:
        usage = get_usage(
            request,
            group=REFUSALS_GROUP,
            key=lambda group, req: client_address(req) or "unknown",
            rate=settings.CLICKPESA_WEBHOOK_REFUSALS_RATE,
            increment=True,
        )
    except Exception:
        logger.warning("webhook refusals could not be counted (cache unavailable); storing the refusal")
        return False
    return bool(usage and usage["should_limit"])


def _decode(raw: bytes) -> str:
    return bytes(raw).decode("utf-8", errors="replace")
