"""The webhook pipeline shared by every ClickPesa endpoint (DESIGN.md "The webhook pipeline").

:func:`receive` turns one HTTP request into one answer:

1. refuse bodies over ``CLICKPESA_WEBHOOK_MAX_BYTES`` (413) and other content types (415);
2. parse the envelope (400) and verify its checksum (401);
3. read the event's typed data (400), so bad input never reaches a handler;
4. store the delivery as a :class:`WebhookEvent`, with the partial unique index on
   ``dedupe_key`` deciding whether it was seen before (a duplicate of a finished event is
   only counted);
5. process it in one database transaction with the event row locked (200);
6. on an exception, roll the business work back, keep the failure on the row, and retry
   later with exponential backoff until ``CLICKPESA_WEBHOOK_MAX_ATTEMPTS``, then ``DEAD``
   and Support is alerted (500, so that ClickPesa may retry too).

Every refused request is kept as a ``REJECTED`` row with its reason. Processing is
idempotent, so ClickPesa's retries, the retry task, the sweep and a staff replay may all
reach one event: the row lock decides who applies it, and the others see it finished.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from blinno.exceptions import BlinnoError
from blinno.upsert import insert_on_conflict
from monitoring.metrics import webhook_observe
from notifications.models import Notification
from notifications.services import notify_staff

from . import handlers
from .checksum import ChecksumResult, verify
from .client import encode_json
from .models import WebhookEvent
from .outcome import Outcome
from .payloads import Envelope, PayloadError, dedupe_key, parse_envelope

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status

CHECKSUM_HEADER = "X-ClickPesa-Checksum"
"""Where some integrations put the checksum; used only when the body carries none."""

KEPT_HEADERS = ("Content-Type", "User-Agent", "X-Forwarded-For", "X-Request-Id", CHECKSUM_HEADER)
"""Request headers stored on the event. Never cookies or credentials."""

STUCK_AFTER = timedelta(minutes=5)
"""A RECEIVED event this old was left behind by a crashed process; the sweep takes it over."""

CLAIM_LEASE = timedelta(minutes=5)
"""How long a retry claim holds an event before another worker may take it over."""

TRANSACTION_ATTEMPTS = 3
"""Tries of one processing transaction that hits a deadlock or a serialization failure."""

_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
_HANDLER_STATUSES = frozenset({Status.PROCESSED, Status.IGNORED, Status.STALE, Status.UNMATCHED})
_ANSWERS = {
    Status.PROCESSED: "processed",
    Status.IGNORED: "ignored",
    Status.UNMATCHED: "unmatched",
    Status.STALE: "stale",
}


@dataclass(frozen=True)
class Processing:
    """What one processing attempt did to an event.

    ``ran`` is False when the event was not in a status this attempt may process (another
    request or worker had already finished it); ``failed`` is True when it raised.
    """

    event: WebhookEvent
    ran: bool
    failed: bool


class _Refused(Exception):
    """A request the pipeline answers with a 4xx and keeps as REJECTED."""

    def __init__(self, http_status: int, reason: str, *, raw: bytes | None = None, checksum_result: str = "") -> None:
        super().__init__(reason)
        self.http_status = http_status
        self.reason = reason
        self.raw = raw
        self.checksum_result = checksum_result


# Receiving


def receive(request: HttpRequest, *, endpoint: str) -> tuple[int, dict[str, Any]]:
    """Run one POSTed webhook through the pipeline; return the HTTP status and the JSON answer.

    Answers ``{"status": "processed" | "duplicate" | "ignored" | "unmatched" | "stale",
    "event": id}`` with 200, or ``{"error": reason, "event": id}`` with 400, 401, 413, 415 or
    500. Logs one line per request: event id, endpoint, event name, reference, outcome and
    duration, never the body (it holds customers' phone numbers and emails).
    """
    started = time.monotonic()
    record = {
        "endpoint": endpoint,
        "headers": _kept_headers(request),
        "remote_addr": client_address(request),
    }
    raw = b""
    try:
        raw = _read_body(request)
        envelope = _parse(raw)
        record.update(_describe(envelope))
        record["checksum_result"] = _verify(envelope, request.headers.get(CHECKSUM_HEADER))
        _validate(envelope, record["checksum_result"])
    except _Refused as refusal:
        event = _store_rejected(record, raw=raw if refusal.raw is None else refusal.raw, refusal=refusal)
        answer = refusal.http_status, {"error": refusal.reason, "event": event.pk}
        _log(event, answer, started)
        return answer

    event, first = _store(record, raw)
    if not first and event.status in WebhookEvent.FINAL_STATUSES:
        answer = 200, {"status": "duplicate", "event": event.pk}
    else:
        answer = _answer(webhook_event_process(event.pk, allowed=WebhookEvent.REDELIVERABLE_STATUSES))
    _log(event, answer, started)
    return answer


def webhook_event_ingest(
    body: Mapping[str, Any],
    *,
    endpoint: str,
    source: str = WebhookEvent.Source.POLL,
    headers: Mapping[str, str] | None = None,
) -> Processing:
    """Store and process a body this service built itself (a status query's answer in webhook shape).

    The pipeline of a delivery from its typed data on: a body its handler would refuse raises
    :class:`~clickpesa.payloads.PayloadError` and nothing is stored; the event is kept with
    ``source`` and no checksum result (it never crossed the network); a body already stored is
    only counted; processing is the same transaction as a webhook's. So a real webhook with the
    same content, arriving later, is a duplicate, and one with other content finds the work done.
    Call it outside any transaction (see :func:`webhook_event_process`).
    """
    raw = encode_json(body)
    envelope = parse_envelope(raw)
    registration = handlers.lookup(envelope.event)
    if registration is not None and registration.parse is not None:
        registration.parse(envelope)
    record = {
        "endpoint": endpoint,
        "source": source,
        "headers": {name.lower(): _clean(value, 500) for name, value in (headers or {}).items()},
        "remote_addr": None,
        "checksum_result": "",
        **_describe(envelope),
    }
    started = time.monotonic()
    event, first = _store(record, raw)
    if not first and event.status in WebhookEvent.FINAL_STATUSES:
        processing = Processing(event, ran=False, failed=False)
    else:
        processing = webhook_event_process(event.pk, allowed=WebhookEvent.REDELIVERABLE_STATUSES)
    _log(processing.event, _answer(processing), started)
    return processing


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


def _kept_headers(request: HttpRequest) -> dict[str, str]:
    return {name.lower(): _clean(request.headers[name], 500) for name in KEPT_HEADERS if name in request.headers}


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
    if request.content_type.lower() != "application/json":
        shown = _clean(request.content_type, 60) or "none"
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
        "event_name": _clean(envelope.event, 60),
        "order_reference": _clean(envelope.order_reference or "", 64),
        "gateway_status": _clean(status if isinstance(status, str) else "", 30),
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


def _validate(envelope: Envelope, checksum_result: str) -> None:
    registration = handlers.lookup(envelope.event)
    if registration is None or registration.parse is None:
        return
    try:
        registration.parse(envelope)
    except PayloadError as exc:
        raise _Refused(400, str(exc), checksum_result=checksum_result) from None


def _store_rejected(record: dict[str, Any], *, raw: bytes, refusal: _Refused) -> WebhookEvent:
    return WebhookEvent.objects.create(
        **{**record, "checksum_result": refusal.checksum_result},
        body=_decode(raw),
        status=Status.REJECTED,
        detail=_clean(refusal.reason, 500),
    )


def _store(record: dict[str, Any], raw: bytes) -> tuple[WebhookEvent, bool]:
    """Insert the delivery, or count it on the event it repeats; return that event and whether it is new.

    One statement, ``INSERT ... ON CONFLICT ... DO UPDATE``, with the partial unique index on
    ``dedupe_key`` as the arbiter: of two deliveries racing, one inserts and the other waits
    for its commit and counts itself a duplicate. A new row has no duplicates yet; a counted
    one has at least one, which is how the two answers are told apart.
    """
    table = WebhookEvent._meta.db_table
    stored = insert_on_conflict(
        WebhookEvent(**record, body=_decode(raw), status=Status.RECEIVED),
        # The predicate of the unique constraint one_webhook_event_per_body, so that it is the arbiter.
        on_conflict="ON CONFLICT (dedupe_key) WHERE NOT (status = 'REJECTED') AND NOT (dedupe_key = '') "
        f"DO UPDATE SET duplicate_count = {table}.duplicate_count + 1, last_duplicate_at = EXCLUDED.received_at",
    )
    return stored, stored.duplicate_count == 0


def _answer(processing: Processing) -> tuple[int, dict[str, Any]]:
    event = processing.event
    if processing.failed:
        reason = "processing failed; will retry" if event.status == Status.FAILED else "processing failed"
        return 500, {"error": reason, "event": event.pk}
    if not processing.ran and event.status in WebhookEvent.FINAL_STATUSES:
        return 200, {"status": "duplicate", "event": event.pk}
    return 200, {"status": _ANSWERS.get(event.status, event.status.lower()), "event": event.pk}


def _log(event: WebhookEvent, answer: tuple[int, dict[str, Any]], started: float) -> None:
    http_status, body = answer
    outcome = body.get("status") or f"error: {body.get('error')}"
    logger.log(
        logging.WARNING if http_status >= 400 else logging.INFO,
        "webhook event=%s endpoint=%s name=%s reference=%s outcome=%s http=%s duration_ms=%d",
        event.pk,
        event.endpoint,
        json.dumps(event.event_name),
        json.dumps(event.order_reference),
        json.dumps(outcome),
        http_status,
        (time.monotonic() - started) * 1000,
    )
    webhook_observe(event, answer, time.monotonic() - started)


def _decode(raw: bytes) -> str:
    return _clean(bytes(raw).decode("utf-8", errors="replace"))


def _clean(text: str, max_length: int | None = None) -> str:
    """Make text storable: PostgreSQL text holds neither NUL nor lone surrogates."""
    text = text.replace("\x00", "\ufffd").encode("utf-8", errors="replace").decode("utf-8")
    return text[:max_length] if max_length else text


# Processing


def webhook_event_process(event_id: int, *, allowed: Iterable[str] = WebhookEvent.RETRYABLE_STATUSES) -> Processing:
    """Apply an event's handler once, in one transaction with the event row locked.

    Does nothing (``ran=False``) unless the event's status is in ``allowed``: whoever waited
    for the lock finds the event finished. The handler's outcome becomes the event's status
    (an unknown event name is ``IGNORED``). A deadlock or serialization failure is retried
    up to :data:`TRANSACTION_ATTEMPTS` times; any other exception rolls the business work back
    and is recorded on the event outside that transaction (see :func:`_record_failure`).
    Call it outside any transaction, or a caller's rollback would lose that record.
    """
    allowed = frozenset(allowed)
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                event = WebhookEvent.objects.select_for_update().get(pk=event_id)
                if event.status not in allowed:
                    return Processing(event, ran=False, failed=False)
                outcome = _dispatch(event)
                event.status = outcome.status
                event.detail = _clean(outcome.detail, 500)
                event.attempts += 1
                event.processed_at = timezone.now()
                event.next_attempt_at = None
                event.save(update_fields=["status", "detail", "attempts", "processed_at", "next_attempt_at"])
            return Processing(event, ran=True, failed=False)
        except DatabaseError as exc:
            if _is_transient(exc) and attempt < TRANSACTION_ATTEMPTS:
                logger.warning("webhook event=%s transient database error, try %d: %s", event_id, attempt, exc)
                continue
            return _record_failure(event_id, exc, traceback.format_exc())
        except Exception as exc:
            return _record_failure(event_id, exc, traceback.format_exc())
    raise AssertionError("unreachable: the last attempt returns")


def _dispatch(event: WebhookEvent) -> Outcome:
    envelope = parse_envelope(event.body.encode("utf-8"))
    registration = handlers.lookup(envelope.event)
    if registration is None:
        # Events of other ClickPesa products reach this URL too: acknowledged, kept, no effect.
        return Outcome.ignored(f"no handler for event {envelope.event!r}")
    outcome = registration.handler(event, envelope)
    if not isinstance(outcome, Outcome) or outcome.status not in _HANDLER_STATUSES:
        raise TypeError(f"handler for {envelope.event!r} returned {outcome!r}, not an Outcome")
    return outcome


def _is_transient(exc: DatabaseError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in _TRANSIENT_SQLSTATES


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the ``attempts``-th failed attempt: 30 s, 60 s, 120 s, ... at most one hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(attempts - 1, 0)))


def _record_failure(event_id: int, exc: BaseException, trace: str) -> Processing:
    """Keep the failure on the event, outside the rolled-back transaction, and plan what comes next.

    The event becomes FAILED with the error, traceback, one more attempt and the time of the
    next one (a retry task is enqueued after commit), or DEAD once the attempts reach
    ``CLICKPESA_WEBHOOK_MAX_ATTEMPTS``, and Support is alerted. An event another worker
    finished meanwhile is left as it is.
    """
    logger.error("webhook event=%s processing failed: %s: %s", event_id, type(exc).__name__, exc)
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_id)
        if event.status in WebhookEvent.FINAL_STATUSES:
            return Processing(event, ran=False, failed=False)
        now = timezone.now()
        event.attempts += 1
        dead = event.attempts >= settings.CLICKPESA_WEBHOOK_MAX_ATTEMPTS
        event.status = Status.DEAD if dead else Status.FAILED
        event.error = _clean(f"{type(exc).__name__}: {exc}", 2000)
        event.traceback = _clean(trace)
        event.next_attempt_at = None if dead else now + retry_delay(event.attempts)
        event.save(update_fields=["status", "error", "traceback", "attempts", "next_attempt_at"])
        if dead:
            _alert_dead(event)
        else:
            delay = (event.next_attempt_at - now).total_seconds()
            transaction.on_commit(partial(_enqueue_retry, event.pk, delay))
    return Processing(event, ran=True, failed=True)


def _alert_dead(event: WebhookEvent) -> None:
    try:
        # A savepoint: an alert that cannot be written must not lose the failure record.
        with transaction.atomic():
            notify_staff(
                kind=Notification.Kind.STAFF_ALERT,
                dedupe_key=f"webhook-event:{event.pk}:dead",
                group="Support",
                context={
                    "title": f"Webhook event #{event.pk} failed {event.attempts} times and was given up",
                    "detail": (
                        f"Event: {event.event_name or 'unknown'}; reference: {event.order_reference or 'none'}; "
                        f"last error: {event.error.splitlines()[0] if event.error else 'none'}. "
                        "Fix the cause, then replay the event from the admin."
                    ),
                },
            )
    except Exception:
        logger.exception("webhook event=%s is DEAD and Support could not be alerted", event.pk)


def _enqueue_retry(event_id: int, delay: float) -> None:
    from .tasks import webhook_event_retry  # tasks import this module

    try:
        webhook_event_retry.apply_async((event_id,), countdown=max(delay, 0))
    except Exception:
        logger.warning("webhook event=%s retry not enqueued (broker unavailable); the sweep will retry it", event_id)


# Retries, sweep and replay


def _due() -> Q:
    now = timezone.now()
    not_claimed = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return Q(status=Status.FAILED, next_attempt_at__lte=now) | (
        Q(status=Status.RECEIVED, received_at__lt=now - STUCK_AFTER) & not_claimed
    )


def webhook_event_claim(event_id: int) -> bool:
    """Claim a due event for one retry, with a compare-and-set; False when not due or taken.

    Due: FAILED with ``next_attempt_at`` passed, or RECEIVED for longer than
    :data:`STUCK_AFTER`. The claim moves ``next_attempt_at`` :data:`CLAIM_LEASE` ahead, so a
    worker that dies while holding it only delays the event.
    """
    return WebhookEvent.objects.filter(_due(), pk=event_id).update(next_attempt_at=timezone.now() + CLAIM_LEASE) == 1


def webhook_event_retry_due(event_id: int) -> Processing | None:
    """Process the event if it is due and this worker wins the claim; ``None`` otherwise."""
    if not webhook_event_claim(event_id):
        return None
    return webhook_event_process(event_id, allowed=WebhookEvent.RETRYABLE_STATUSES)


def webhook_events_retry_sweep(*, limit: int = 200) -> int:
    """Retry every due event (at most ``limit``, oldest first); return how many were processed.

    Catches retries whose task was lost (a broker outage, a broker-less deployment) and
    events left RECEIVED by a process that died mid-request.
    """
    due = list(
        WebhookEvent.objects.filter(_due())
        .order_by("next_attempt_at", "received_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if webhook_event_retry_due(pk) is not None)


def webhook_event_replay(event: WebhookEvent, *, by: object | None = None) -> Processing:
    """Process a FAILED, DEAD or UNMATCHED event again now (a staff action).

    Raises :class:`BlinnoError` (code ``not_replayable``) for any other status. A failed
    replay is recorded like any failure: a DEAD event stays DEAD. ``by`` (the staff user) is
    logged. Call it outside any transaction (see :func:`webhook_event_process`).
    """
    event.refresh_from_db(fields=["status"])
    if event.status not in WebhookEvent.REPLAYABLE_STATUSES:
        raise BlinnoError(
            f"Event #{event.pk} is {event.get_status_display()}; only failed, dead or unmatched events are replayed.",
            code="not_replayable",
        )
    logger.info("webhook event=%s replayed by %s", event.pk, getattr(by, "pk", None) or "system")
    processing = webhook_event_process(event.pk, allowed=WebhookEvent.REPLAYABLE_STATUSES)
    event.refresh_from_db()
    return processing
