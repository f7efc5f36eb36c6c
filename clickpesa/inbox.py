"""The durable inbox: store a delivery, apply its handler once, keep failures, retry, sweep, replay.

Every delivery (a webhook, or a status query's answer with source ``poll``) becomes one
:class:`WebhookEvent` row before anything else happens; the partial unique index on
``dedupe_key`` makes a repeated body a counted duplicate of the first. :func:`process` applies
the event's handler in one transaction with the event row locked, so ClickPesa's retries, the
retry task, the sweep and a staff replay may all reach one event: the lock decides who applies
it and the others find it finished. A failure rolls the work back, stays on the row with its
traceback (outside that transaction), and is retried with backoff until
``CLICKPESA_WEBHOOK_MAX_ATTEMPTS``; then the event is DEAD and the :func:`registry.on_dead`
listeners are told. docs/architecture.md has the whole flow.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, CharField, Count, F, Func, Min, Q, When
from django.utils import timezone

from core.backoff import CLAIM_LEASE, retry_delay
from core.errors import BlinnoError
from core.results import Effect, Result
from core.upsert import insert_on_conflict_values

from . import registry
from .jsonwire import canonical_json
from .models import WebhookEvent
from .payloads import Envelope, parse_envelope

logger = logging.getLogger(__name__)

Status = WebhookEvent.Status

STUCK_AFTER = CLAIM_LEASE
"""A RECEIVED event this old was left behind by a crashed process; the sweep takes it over."""

TRANSACTION_ATTEMPTS = 3
"""Tries of one processing transaction that hits a deadlock or a serialization failure."""

_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected

STATUS_OF_EFFECT = {
    Effect.APPLIED: Status.PROCESSED,
    Effect.UNCHANGED: Status.IGNORED,
    Effect.STALE: Status.STALE,
    Effect.NOT_FOUND: Status.UNMATCHED,
}

_UNPARSED = object()


@dataclass(frozen=True)
class Processing:
    """What one processing attempt did to an event.

    ``ran`` is False when the event was not in a status this attempt may process (another
    request or worker had already finished it); ``failed`` is True when it raised.
    """

    event: WebhookEvent
    ran: bool
    failed: bool

    def answer(self) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON a webhook delivery is answered with."""
        event = self.event
        if self.failed:
            reason = "processing failed; will retry" if event.status == Status.FAILED else "processing failed"
            return 500, {"error": reason, "event": event.pk}
        if not self.ran and event.status in WebhookEvent.FINAL_STATUSES:
            return 200, {"status": "duplicate", "event": event.pk}
        return 200, {"status": event.status.lower(), "event": event.pk}


def clean_text(text: str, max_length: int | None = None) -> str:
    """Make text storable: PostgreSQL text holds neither NUL nor lone surrogates."""
    text = text.replace("\x00", "\ufffd").encode("utf-8", errors="replace").decode("utf-8")
    return text[:max_length] if max_length else text


def store(record: Mapping[str, Any], body: str, *, requeue: bool = False) -> tuple[WebhookEvent, bool]:
    """Insert a delivery as RECEIVED, or count it on the event it repeats; return that event and whether it is new.

    One statement, ``INSERT ... ON CONFLICT ... DO UPDATE``, with the partial unique index on
    ``dedupe_key`` as the arbiter: of two deliveries racing, one inserts and the other waits
    for its commit and counts itself a duplicate. A new row has no duplicates yet; a counted
    one has at least one, which is how the two answers are told apart. With ``requeue`` (a
    delivery answered before it is settled), a repeat of a FAILED, UNMATCHED or DEAD event
    puts it back to RECEIVED for the settler, as a settling receiver would process it again.

    The event returned carries the stored row's id, status and duplicate count; its other
    fields are this delivery's (a repeat's body and headers are not the first's): read the row
    again for more.
    """
    table = WebhookEvent._meta.db_table
    requeued = (
        f", status = CASE WHEN {table}.status IN ('FAILED', 'UNMATCHED', 'DEAD') "
        f"THEN 'RECEIVED' ELSE {table}.status END"
        if requeue
        else ""
    )
    event = WebhookEvent(**record, body=clean_text(body), status=Status.RECEIVED)
    # The predicate of the unique constraint one_webhook_event_per_body, so that it is the arbiter.
    on_conflict = (
        "ON CONFLICT (dedupe_key) WHERE NOT (status = 'REJECTED') AND NOT (dedupe_key = '') "
        f"DO UPDATE SET duplicate_count = {table}.duplicate_count + 1, last_duplicate_at = EXCLUDED.received_at"
        + requeued
    )
    returning = "id, status, duplicate_count"
    try:
        stored = insert_on_conflict_values(event, on_conflict=on_conflict, returning=returning)
    except (OperationalError, InterfaceError):
        # The webhook handler (blinno.wsgi) skips Django's connection check before each request:
        # a connection the database dropped (a restart) is found by this statement instead, and
        # it runs once more on a new one. Had the first run committed, the second counts itself
        # its duplicate and finds it RECEIVED: answered the same.
        if connection.in_atomic_block or connection.is_usable():
            raise
        connection.close()
        stored = insert_on_conflict_values(event, on_conflict=on_conflict, returning=returning)
    assert stored is not None  # DO UPDATE always returns the row
    event.pk, event.status, event.duplicate_count = stored
    event._state.adding = False
    return event, event.duplicate_count == 0


def store_rejected(record: Mapping[str, Any], *, raw: bytes | None, reason: str) -> WebhookEvent:
    """Keep a refused request as REJECTED with its reason, the head of its body and the whole body's SHA-256.

    Only ``CLICKPESA_REJECTED_BODY_BYTES`` of the body are kept: refusals come from anyone.
    ``raw`` is None for a request refused before its body was read (no body, no hash).
    """
    head = (raw or b"")[: settings.CLICKPESA_REJECTED_BODY_BYTES].decode("utf-8", errors="replace")
    return WebhookEvent.objects.create(
        **record,
        body=clean_text(head),
        body_sha256="" if raw is None else hashlib.sha256(raw).hexdigest(),
        status=Status.REJECTED,
        detail=clean_text(reason, 500),
    )


def prune_bodies(*, older_than_days: int) -> int:
    """Empty the bodies of refused and ignored events received more than ``older_than_days`` ago.

    The rows stay (status, reason, headers, hash), so counts and the audit trail survive; one
    UPDATE, which hashes a body first when it has no hash yet. Returns how many were emptied.
    """
    cutoff = timezone.now() - timedelta(days=older_than_days)
    body_hash = Func(F("body"), template="encode(sha256(convert_to(%(expressions)s, 'UTF8')), 'hex')")
    return (
        WebhookEvent.objects.filter(status__in=(Status.REJECTED, Status.IGNORED), received_at__lt=cutoff)
        .exclude(body="")
        .update(
            body_sha256=Case(When(body_sha256="", then=body_hash), default=F("body_sha256"), output_field=CharField()),
            body="",
        )
    )


def ingest(
    event_name: str,
    data: Any,
    fields: Mapping[str, Any],
    *,
    endpoint: str,
    source: str = WebhookEvent.Source.POLL,
    headers: Mapping[str, str] | None = None,
) -> Processing:
    """Store and apply an event this service built itself (a status query's answer), already parsed.

    ``fields`` are the answer's fields in the webhook's ``data`` shape and ``data`` their typed
    form, handed to the handler as is. The event is stored with ``source`` and no checksum
    result (it never crossed the network) and deduplicated on its canonical body, so a real
    webhook with the same content arriving later is a duplicate, and one with other content
    finds the work done. Call it outside any transaction (see :func:`process`).
    """
    body = canonical_json({"data": fields, "event": event_name})
    status = fields.get("status")
    record = {
        "endpoint": endpoint,
        "source": source,
        "headers": {name.lower(): clean_text(value, 500) for name, value in (headers or {}).items()},
        "remote_addr": None,
        "checksum_result": "",
        "event_name": event_name,
        "order_reference": clean_text(str(fields.get("orderReference") or ""), 64),
        "gateway_status": clean_text(status if isinstance(status, str) else "", 30),
        "dedupe_key": hashlib.sha256(body.encode("utf-8")).hexdigest(),
    }
    event, first = store(record, body)
    if not first and event.status in WebhookEvent.FINAL_STATUSES:
        return Processing(event, ran=False, failed=False)
    return process(event.pk, allowed=WebhookEvent.REDELIVERABLE_STATUSES, data=data)


def process(
    event_id: int, *, allowed: Iterable[str] = WebhookEvent.RETRYABLE_STATUSES, data: Any = _UNPARSED
) -> Processing:
    """Apply an event's handler once, in one transaction with the event row locked.

    Does nothing (``ran=False``) unless the event's status is in ``allowed``: whoever waited
    for the lock finds the event finished. ``data`` is the event's typed data when the caller
    has just parsed it; otherwise the stored body is parsed. The handler's result becomes the
    event's status (an unknown event name is ``IGNORED``). A deadlock or serialization failure
    is retried up to :data:`TRANSACTION_ATTEMPTS` times; any other exception rolls the work back
    and is recorded on the event outside that transaction (see :func:`_record_failure`). Call it
    outside any transaction, or a caller's rollback would lose that record.
    """
    allowed = frozenset(allowed)
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                event = WebhookEvent.objects.select_for_update().get(pk=event_id)
                if event.status not in allowed:
                    return Processing(event, ran=False, failed=False)
                result = _dispatch(event, data)
                event.status = STATUS_OF_EFFECT[result.effect]
                event.detail = clean_text(result.detail, 500)
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


def _dispatch(event: WebhookEvent, data: Any) -> Result:
    registration = registry.lookup(event.event_name)
    if registration is None:
        # Events of other ClickPesa products reach this URL too: acknowledged, kept, no effect.
        return Result.unchanged(f"no handler for event {event.event_name!r}")
    if data is _UNPARSED:
        data = registration.parse(_envelope(event))
    result = registration.handle(event, data)
    if not isinstance(result, Result):
        raise TypeError(f"handler for {event.event_name!r} returned {result!r}, not a Result")
    return result


def _envelope(event: WebhookEvent) -> Envelope:
    """The stored body parsed, with the reference staff linked it to in place of ClickPesa's."""
    envelope = parse_envelope(event.body.encode("utf-8"))
    if event.linked_reference:
        envelope = replace(envelope, data={**envelope.data, "orderReference": event.linked_reference})
    return envelope


def _is_transient(exc: DatabaseError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) in _TRANSIENT_SQLSTATES


def _record_failure(event_id: int, exc: BaseException, trace: str) -> Processing:
    """Keep the failure on the event, outside the rolled-back transaction, and plan what comes next.

    The event becomes FAILED with the error, traceback, one more attempt and the time of the
    next one, or DEAD once the attempts reach ``CLICKPESA_WEBHOOK_MAX_ATTEMPTS`` (and the
    :func:`registry.on_dead` listeners are told). An event another worker finished meanwhile
    is left as it is. Enqueuing the retry is the caller's (clickpesa.tasks); the sweep catches
    one that was never enqueued.
    """
    logger.error("webhook event=%s processing failed: %s: %s", event_id, type(exc).__name__, exc)
    with transaction.atomic():
        event = WebhookEvent.objects.select_for_update().get(pk=event_id)
        if event.status in WebhookEvent.FINAL_STATUSES:
            return Processing(event, ran=False, failed=False)
        event.attempts += 1
        dead = event.attempts >= settings.CLICKPESA_WEBHOOK_MAX_ATTEMPTS
        event.status = Status.DEAD if dead else Status.FAILED
        event.error = clean_text(f"{type(exc).__name__}: {exc}", 2000)
        event.traceback = clean_text(trace)
        event.next_attempt_at = None if dead else timezone.now() + retry_delay(event.attempts)
        event.save(update_fields=["status", "error", "traceback", "attempts", "next_attempt_at"])
        if dead:
            _tell_dead(event)
    return Processing(event, ran=True, failed=True)


def _tell_dead(event: WebhookEvent) -> None:
    for listener in registry.dead_listeners():
        try:
            # A savepoint: an alert that cannot be written must not lose the failure record.
            with transaction.atomic():
                listener(event)
        except Exception:
            logger.exception("webhook event=%s is DEAD and a listener failed", event.pk)


# Settling in batches


@dataclass(frozen=True)
class Batch:
    """What one :func:`settle_batch` did: events settled (a final or UNMATCHED status), and the failures.

    ``failures`` are the processings that failed, for the caller to plan their retries
    (clickpesa.tasks).
    """

    settled: int
    failed: int
    failures: tuple[Processing, ...] = ()
    claimed: int = 0

    def __bool__(self) -> bool:
        """True when the batch found events to settle: the next one may find more."""
        return self.claimed > 0


@dataclass(frozen=True)
class Backlog:
    """Acknowledged events not settled yet: how many, and how long the oldest has waited (seconds)."""

    count: int
    oldest_age: float | None


def settle_batch(limit: int | None = None) -> Batch:
    """Settle up to ``limit`` RECEIVED events (``CLICKPESA_SETTLE_BATCH_SIZE``): the common cases in one transaction.

    The events are claimed in arrival order with ``FOR UPDATE SKIP LOCKED``, so several settlers
    (and a request settling its own event) never take one event twice; only the first event of
    each reference is settled in a batch (the next waits for the next batch, in order). Each
    handler's ``settle_many`` settles what it can in this transaction; the events it leaves
    out (a mismatch, a conflict, an unusual status) go through :func:`process` after the commit,
    one transaction each. When the batch transaction fails, every event of it goes through
    :func:`process`, so one bad event never holds the others and each failure is recorded,
    retried and alerted as before. Call it outside any transaction.
    """
    limit = limit or settings.CLICKPESA_SETTLE_BATCH_SIZE
    claimed: list[WebhookEvent] = []
    left: list[int] = []
    results: dict[int, Result] = {}
    try:
        with transaction.atomic():
            claimed = list(
                WebhookEvent.objects.select_for_update(skip_locked=True)
                .filter(status=Status.RECEIVED)
                .order_by("received_at", "pk")
                .only("pk", "event_name", "order_reference", "linked_reference", "body", "source", "attempts")[:limit]
            )
            if not claimed:
                return Batch(0, 0)
            results, left = _settle_claimed(claimed)
            _mark_settled(results)
    except Exception:
        logger.exception("webhook settle batch failed; settling its events one by one")
        left, results = [event.pk for event in claimed], {}
    settled, failures = len(results), []
    for pk in left:
        processing = process(pk, allowed=(Status.RECEIVED,))
        if processing.failed:
            failures.append(processing)
        elif processing.ran:
            settled += 1
    return Batch(settled, len(failures), tuple(failures), claimed=len(claimed))


def _settle_claimed(claimed: list[WebhookEvent]) -> tuple[dict[int, Result], list[int]]:
    """Settle what the handlers' ``settle_many`` take; return their results and the events left over."""
    seen: set[str] = set()
    batches: dict[registry.BatchHandler, list[tuple[WebhookEvent, Any]]] = {}
    results: dict[int, Result] = {}
    left: list[int] = []
    for event in claimed:
        if event.order_reference and event.order_reference in seen:
            continue  # a later report about the same row: the next batch, after this one's
        seen.add(event.order_reference)
        registration = registry.lookup(event.event_name)
        if registration is None:
            results[event.pk] = Result.unchanged(f"no handler for event {event.event_name!r}")
            continue
        if registration.settle_many is None:
            left.append(event.pk)
            continue
        try:
            data = registration.parse(_envelope(event))
        except Exception:
            left.append(event.pk)  # recorded as a failure by process()
            continue
        batches.setdefault(registration.settle_many, []).append((event, data))
    for settle_many, items in batches.items():
        done = settle_many(items)
        results.update(done)
        left += [event.pk for event, _ in items if event.pk not in done]
    return results, left


def _mark_settled(results: Mapping[int, Result]) -> None:
    """Write the batch's outcomes on its events in one statement."""
    if not results:
        return
    ids = list(results)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE {WebhookEvent._meta.db_table} AS e
               SET status = u.status, detail = u.detail, attempts = e.attempts + 1,
                   processed_at = %s, next_attempt_at = NULL
              FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS u(id, status, detail)
             WHERE e.id = u.id
            """,  # noqa: S608 - the table name is the model's
            [
                timezone.now(),
                ids,
                [STATUS_OF_EFFECT[results[pk].effect] for pk in ids],
                [clean_text(results[pk].detail, 500) for pk in ids],
            ],
        )


def backlog(*, now: datetime | None = None) -> Backlog:
    """How many acknowledged events wait for the settler, and the oldest one's age in seconds (one indexed query)."""
    found = WebhookEvent.objects.filter(status=Status.RECEIVED).aggregate(count=Count("pk"), oldest=Min("received_at"))
    oldest = found["oldest"]
    return Backlog(found["count"], max(((now or timezone.now()) - oldest).total_seconds(), 0.0) if oldest else None)


# Retries, sweep and replay


def _due() -> Q:
    now = timezone.now()
    not_claimed = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    return Q(status=Status.FAILED, next_attempt_at__lte=now) | (
        Q(status=Status.RECEIVED, received_at__lt=now - STUCK_AFTER) & not_claimed
    )


def claim(event_id: int) -> bool:
    """Claim a due event for one retry, with a compare-and-set; False when not due or taken.

    Due: FAILED with ``next_attempt_at`` passed, or RECEIVED for longer than
    :data:`STUCK_AFTER`. The claim moves ``next_attempt_at`` a lease ahead, so a worker that
    dies while holding it only delays the event.
    """
    return WebhookEvent.objects.filter(_due(), pk=event_id).update(next_attempt_at=timezone.now() + CLAIM_LEASE) == 1


def retry_due(event_id: int) -> Processing | None:
    """Process the event if it is due and this worker wins the claim; ``None`` otherwise."""
    if not claim(event_id):
        return None
    return process(event_id, allowed=WebhookEvent.RETRYABLE_STATUSES)


def retry_sweep(*, limit: int = 200) -> int:
    """Retry every due event (at most ``limit``, oldest first); return how many were processed.

    Catches retries whose task was lost (a broker outage, a broker-less deployment) and
    events left RECEIVED by a process that died mid-request.
    """
    due = list(
        WebhookEvent.objects.filter(_due())
        .order_by("next_attempt_at", "received_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if retry_due(pk) is not None)


def replay(event: WebhookEvent, *, by: object | None = None) -> Processing:
    """Process a FAILED, DEAD or UNMATCHED event again now (a staff action).

    Raises :class:`BlinnoError` (code ``not_replayable``) for any other status. A failed
    replay is recorded like any failure: a DEAD event stays DEAD. ``by`` (the staff user) is
    logged. Call it outside any transaction (see :func:`process`).
    """
    event.refresh_from_db(fields=["status"])
    if event.status not in WebhookEvent.REPLAYABLE_STATUSES:
        raise BlinnoError(
            f"Event #{event.pk} is {event.get_status_display()}; only failed, dead or unmatched events are replayed.",
            code="not_replayable",
        )
    logger.info("webhook event=%s replayed by %s", event.pk, getattr(by, "pk", None) or "system")
    processing = process(event.pk, allowed=WebhookEvent.REPLAYABLE_STATUSES)
    event.refresh_from_db()
    return processing


def link(event: WebhookEvent, reference: str, *, by: object) -> Processing:
    """Point an UNMATCHED event at our payment or payout ``reference``, then replay it (a staff action).

    For a delivery whose reference ClickPesa garbled or that names a row by another reference:
    the body stays as received; the link is kept on the event (``linked_reference``, and who
    set it in the log) and every later processing reads it. Raises :class:`BlinnoError` when
    the event is not unmatched (``not_replayable``) or no row has the reference (``unknown_reference``).
    Call it outside any transaction (see :func:`process`).
    """
    reference = reference.strip()
    if registry.find_subject(reference) is None:
        raise BlinnoError(f"No payment, payout or deposit has the reference {reference!r}.", code="unknown_reference")
    linked = WebhookEvent.objects.filter(pk=event.pk, status=Status.UNMATCHED).update(linked_reference=reference)
    if not linked:
        raise BlinnoError(
            f"Event #{event.pk} is not unmatched; only an unmatched event is linked.", code="not_replayable"
        )
    logger.info("webhook event=%s linked to %s by %s", event.pk, reference, getattr(by, "pk", None) or "system")
    processing = process(event.pk, allowed=(Status.UNMATCHED,))
    event.refresh_from_db()
    return processing


def dismiss(event: WebhookEvent, *, reason: str, by: object) -> str:
    """Close a FAILED, DEAD or UNMATCHED event by hand: IGNORED, with who and why in its detail.

    Nothing is applied (no handler runs); a delivery of the same body later is only counted.
    Returns the one-sentence report.
    """
    if not reason.strip():
        raise BlinnoError("A reason is required to dismiss an event.", code="reason_required")
    detail = clean_text(f"Dismissed by {by}: {reason.strip()}", 500)
    closed = WebhookEvent.objects.filter(pk=event.pk, status__in=WebhookEvent.REPLAYABLE_STATUSES).update(
        status=WebhookEvent.Status.IGNORED, detail=detail, next_attempt_at=None, processed_at=timezone.now()
    )
    if not closed:
        raise BlinnoError(
            f"Event #{event.pk} is not failed, dead or unmatched; nothing to dismiss.", code="not_replayable"
        )
    logger.info("webhook event=%s dismissed by %s", event.pk, getattr(by, "pk", None) or "system")
    return f"Event #{event.pk} dismissed: nothing applied; the reason is kept on the event."
