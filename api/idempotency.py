"""``Idempotency-Key`` with Stripe's semantics, kept in PostgreSQL.

The key is claimed before any work: one ``INSERT ... ON CONFLICT DO NOTHING`` in its own
transaction (the request runs in autocommit), so of two requests with one key exactly one
does the work. The other finds the row: another body is ``idempotency_key_reused`` (422);
the same body waits for the answer (up to ``API_IDEMPOTENCY_WAIT_SECONDS``) and replays it,
or is told ``idempotency_key_in_progress`` (409). A claim whose request died is taken over
after ``API_IDEMPOTENCY_LEASE_SECONDS``. A 5xx answer releases the key (the work rolled back,
so a retry may run it); every other answer is kept and replayed, status and body.

No maintained library fits: the Django ones keep keys in the cache or process-wide rather
than per API key in PostgreSQL, or are single releases without a track record.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from rest_framework import status
from rest_framework.request import Request

from core.upsert import insert_on_conflict

from .errors import ApiError
from .models import IdempotencyRecord, StorefrontKey

HEADER = "Idempotency-Key"
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Replay:
    """A kept answer to send again, byte for byte."""

    status: int
    body: str


def _fingerprint(request: Request) -> str:
    digest = hashlib.sha256()
    for part in (request.method or "", request.path, ""):
        digest.update(part.encode() + b"\n")
    digest.update(request.body)
    return digest.hexdigest()


def _key(request: Request) -> str:
    key = request.headers.get(HEADER, "")
    if not key:
        raise ApiError(f"Every POST needs an {HEADER} header.", code="idempotency_key_missing", field=HEADER)
    if len(key) > 255 or not key.isascii() or not key.isprintable():
        raise ApiError(
            f"{HEADER} must be 1 to 255 printable ASCII characters.", code="idempotency_key_invalid", field=HEADER
        )
    return key


def idempotency_claim(request: Request, api_key: StorefrontKey) -> IdempotencyRecord | Replay:
    """Claim the request's key for this API key, or return the answer to replay; raises a refusal."""
    key, fingerprint = _key(request), _fingerprint(request)
    deadline = time.monotonic() + settings.API_IDEMPOTENCY_WAIT_SECONDS
    while True:
        now = timezone.now()
        claimed = insert_on_conflict(
            IdempotencyRecord(api_key=api_key, key=key, fingerprint=fingerprint, locked_at=now),
            on_conflict="ON CONFLICT (api_key_id, key) DO NOTHING",
        )
        if claimed is not None:
            return claimed
        record = IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()
        if record is None:  # pruned between the two statements: claim it afresh
            continue
        if record.fingerprint != fingerprint:
            raise ApiError(
                f"{HEADER} {key!r} was used for another request; use a new key for a new request.",
                code="idempotency_key_reused",
                status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
                field=HEADER,
            )
        if record.status == IdempotencyRecord.Status.DONE:
            assert record.response_status is not None and record.response_body is not None
            return Replay(record.response_status, record.response_body)
        lease = timedelta(seconds=settings.API_IDEMPOTENCY_LEASE_SECONDS)
        taken = IdempotencyRecord.objects.filter(
            pk=record.pk, status=IdempotencyRecord.Status.IN_PROGRESS, locked_at__lt=now - lease
        ).update(locked_at=now)
        if taken:  # the request that claimed it died: its work rolled back with it
            record.locked_at = now
            return record
        if time.monotonic() >= deadline:
            raise ApiError(
                f"A request with {HEADER} {key!r} is still in progress; retry in a moment.",
                code="idempotency_key_in_progress",
                status_code=status.HTTP_409_CONFLICT,
                field=HEADER,
            )
        time.sleep(_POLL_SECONDS)


def idempotency_finish(record: IdempotencyRecord, *, status_code: int, body: str) -> None:
    """Keep the answer under the claimed key, or release the key after a server error."""
    if status_code >= 500:
        IdempotencyRecord.objects.filter(pk=record.pk, status=IdempotencyRecord.Status.IN_PROGRESS).delete()
        return
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=IdempotencyRecord.Status.DONE, response_status=status_code, response_body=body
    )


def idempotency_prune(*, now: Any = None) -> int:
    """Delete records older than ``API_IDEMPOTENCY_KEEP_HOURS``; return how many."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.API_IDEMPOTENCY_KEEP_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
