"""Events for the storefront: an outbox row written in the transaction of the change it reports.

Without settings.STOREFRONT_WEBHOOK_URL no event is written. Rows are POSTed after commit by
Celery (notifications.outbound, signed in the Standard Webhooks format); Support may replay one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from core.upsert import insert_on_conflict

from . import tasks
from .models import StorefrontEvent

Status = StorefrontEvent.Status


def storefront_event(event_type: str, data: Mapping[str, Any], *, dedupe_key: str) -> StorefrontEvent | None:
    """Write an event (once per ``dedupe_key``) in the caller's transaction; sent after commit.

    Returns the new row, or None when the key was written before or no storefront URL is set.
    """
    if not settings.STOREFRONT_WEBHOOK_URL:
        return None
    message_id = f"msg_{uuid.uuid4().hex}"
    payload = {"type": event_type, "timestamp": timezone.now().isoformat(), "data": dict(data)}
    event = insert_on_conflict(
        StorefrontEvent(
            message_id=message_id,
            dedupe_key=dedupe_key[:200],
            type=event_type,
            # Stored as the JSON that is sent: Decimals and datetimes as strings.
            payload=json.loads(json.dumps(payload, cls=DjangoJSONEncoder)),
        ),
        on_conflict="ON CONFLICT (dedupe_key) DO NOTHING",
    )
    if event is not None:
        event_id = event.pk
        transaction.on_commit(lambda: tasks.storefront_events_enqueue([event_id]))
    return event


def storefront_event_replay(event: StorefrontEvent) -> bool:
    """Send a DEAD or DELIVERED event again with fresh attempts (Support's "replay"); same webhook-id."""
    updated = StorefrontEvent.objects.filter(pk=event.pk, status__in=(Status.DEAD, Status.DELIVERED)).update(
        status=Status.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    if updated:
        transaction.on_commit(lambda: tasks.storefront_events_enqueue([event.pk]))
    return bool(updated)
