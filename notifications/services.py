"""Writing notifications into the outbox, in the transaction that moves the money.

``notify`` is called inside that transaction, so a notification exists exactly when its money
change does. Delivery happens after commit: one Celery task per transaction
(``notifications.tasks.notification_deliver_many``) sends its rows (notifications.delivery).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone, translation

from core.upsert import insert_all_on_conflict_values
from core.users import User

from . import tasks
from .models import Notification
from .texts import render

logger = logging.getLogger(__name__)

Status = Notification.Status

# A CharField, so max_length is set (Django's checks refuse a CharField without one).
DEDUPE_KEY_MAX = cast(int, Notification._meta.get_field("dedupe_key").max_length)


@dataclass(frozen=True)
class Message:
    """One notification to write: what, to whom, and the key that makes it happen once."""

    kind: str
    dedupe_key: str
    context: Mapping[str, object]
    recipient: User | None = None
    email: str | None = None
    attachment: Attachment | None = None


@dataclass(frozen=True)
class Attachment:
    """A file sent with an email: its name, MIME type and bytes."""

    name: str
    content_type: str
    content: bytes


def _language(recipient: object | None) -> str:
    language = getattr(recipient, "language", None) or settings.LANGUAGE_CODE
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def _dedupe_key(key: str) -> str:
    # Staff keys append an email address; a key past the column's length keeps its
    # readable head and a digest of the whole, so it stays unique instead of failing the insert.
    if len(key) <= DEDUPE_KEY_MAX:
        return key
    return f"{key[: DEDUPE_KEY_MAX - 65]}:{hashlib.sha256(key.encode()).hexdigest()}"


def notify_many(messages: Iterable[Message]) -> int:
    """Write notifications (each at most once per `dedupe_key`) and enqueue them after commit.

    Texts are rendered now, in each recipient's language (English unless the recipient
    chose Swahili), so what is sent is what is kept. A message with an address is an
    email (PENDING until sent); one without is in-app and complete as written (SENT).
    One statement whatever the count: an insert that skips known keys and returns the rows
    it wrote. A replayed event therefore notifies nobody twice; rows an earlier call wrote
    are that call's to enqueue (or the sweeper's). Enqueuing never raises: with the broker
    down the rows wait for the sweeper. Returns how many of the written rows await sending.
    """
    now = timezone.now()
    rows = []
    for m in messages:
        language = _language(m.recipient)
        with translation.override(language):
            subject, body = render(m.kind, m.context)
        address = m.email if m.email is not None else (getattr(m.recipient, "email", "") or "")
        rows.append(
            Notification(
                recipient=m.recipient,
                email=address,
                channel=Notification.Channel.EMAIL if address else Notification.Channel.IN_APP,
                status=Status.PENDING if address else Status.SENT,
                sent_at=None if address else now,
                next_attempt_at=now,
                kind=m.kind,
                language=language,
                subject=subject[:200],
                body=body,
                dedupe_key=_dedupe_key(m.dedupe_key),
                attachment=m.attachment.content if m.attachment else None,
                attachment_name=m.attachment.name if m.attachment else "",
                attachment_type=m.attachment.content_type if m.attachment else "",
            )
        )
    written = insert_all_on_conflict_values(
        rows, on_conflict="ON CONFLICT (dedupe_key) DO NOTHING", returning="id, status"
    )
    pending = [pk for pk, status in written if status == Status.PENDING]
    if pending:
        transaction.on_commit(lambda: tasks.notifications_enqueue(pending))
    return len(pending)


def notify(
    *,
    kind: str,
    dedupe_key: str,
    context: Mapping[str, object],
    recipient: User | None = None,
    email: str | None = None,
) -> int:
    """Write one notification; see `notify_many`."""
    return notify_many([Message(kind, dedupe_key, context, recipient, email)])


def staff_messages(*, kind: str, dedupe_key: str, context: Mapping[str, object], group: str) -> list[Message]:
    """Messages for every active member of a staff group (plus settings.FINANCE_EMAILS for Finance)."""
    User = get_user_model()
    members = User.objects.filter(groups__name=group, is_active=True).exclude(email="")
    messages = [Message(kind, f"{dedupe_key}:user:{u.pk}", context, recipient=u) for u in members]
    if group == "Finance":
        messages += [Message(kind, f"{dedupe_key}:email:{a}", context, email=a) for a in settings.FINANCE_EMAILS]
    if not messages:
        logger.warning("staff alert %s has no recipient in group %s", kind, group)
    return messages


def notify_staff(*, kind: str, dedupe_key: str, context: Mapping[str, object], group: str = "Finance") -> int:
    """Tell a staff group; see `staff_messages` and `notify_many`."""
    return notify_many(staff_messages(kind=kind, dedupe_key=dedupe_key, context=context, group=group))


def notification_resend(notification: Notification) -> bool:
    """Put a FAILED or SENT email back in the queue with fresh attempts (support's "resend": a lost
    receipt is sent again). The last error stays on the row until a send succeeds.

    False for a row still on its way (PENDING, SENDING) or an in-app message (shown, not sent).
    """
    updated = (
        Notification.objects.filter(pk=notification.pk, status__in=(Status.FAILED, Status.SENT))
        .exclude(channel=Notification.Channel.IN_APP)
        .update(status=Status.PENDING, attempts=0, next_attempt_at=timezone.now())
    )
    if updated:
        transaction.on_commit(lambda: tasks.notifications_enqueue([notification.pk]))
    return bool(updated)
