"""Writing notifications into the outbox and delivering them.

`notify` is called inside the transaction that moves the money, so a notification exists
exactly when its money change does. Delivery happens after commit: one Celery task per
transaction (`notifications.tasks.notification_deliver_many`) calls `notification_send` for
each row, which claims it with a compare-and-set (PENDING -> SENDING) so two workers never
send one row at once.
A failed send goes back to PENDING with its error and a later `next_attempt_at` (backoff);
after settings.NOTIFICATION_MAX_ATTEMPTS it is FAILED. The periodic `notifications_sweep`
re-enqueues rows nobody delivered (broker outage, lost task) and takes back rows whose
worker died mid-send.

Delivery is at least once, never "exactly once": an email handed to the mail server by a
worker that dies before it records SENT is sent again once the sweeper takes the row back
(after `CLAIM_GRACE`). That window — between the mail server accepting the message and
the SENT update committing — is the only way one row is emailed twice.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation

from blinno.exceptions import BlinnoError
from blinno.upsert import insert_all_on_conflict

from .models import Notification
from .texts import render

logger = logging.getLogger(__name__)

Status = Notification.Status

# A SENDING row claimed longer ago than this lost its worker: no send takes this long
# (the mail connection times out well before), so the sweeper may take it back.
CLAIM_GRACE = timedelta(minutes=5)
# A PENDING row overdue by this much was not delivered by its task: the sweeper re-enqueues it.
SWEEP_AFTER = timedelta(minutes=2)
SWEEP_BATCH = 1000
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 3600
# Used when settings.EMAIL_TIMEOUT is unset: a hung mail server must not hold a claim forever.
SEND_TIMEOUT_SECONDS = 30
# Celery runs a retry at its ETA by the worker's clock; a little slack keeps a retry that
# fires a moment early (clock skew between hosts) from finding its row "not yet due".
DUE_SLACK = timedelta(seconds=10)
DEDUPE_KEY_MAX = Notification._meta.get_field("dedupe_key").max_length


class NotificationRetry(Exception):
    """A send failed and the row is PENDING again; the next attempt is due in `retry_in` seconds."""

    def __init__(self, notification_id: int, error: str, retry_in: int) -> None:
        super().__init__(f"notification {notification_id}: {error} (retry in {retry_in} s)")
        self.notification_id = notification_id
        self.retry_in = retry_in


@dataclass(frozen=True)
class Message:
    """One notification to write: what, to whom, and the key that makes it happen once."""

    kind: str
    dedupe_key: str
    context: Mapping[str, object]
    recipient: object | None = None
    email: str | None = None


def _language(recipient: object | None) -> str:
    language = getattr(recipient, "language", None) or settings.LANGUAGE_CODE
    return language if language in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def _dedupe_key(key: str) -> str:
    # Staff keys append an email address; a key past the column's length keeps its
    # readable head and a digest of the whole, so it stays unique instead of failing the insert.
    if len(key) <= DEDUPE_KEY_MAX:
        return key
    return f"{key[: DEDUPE_KEY_MAX - 65]}:{hashlib.sha256(key.encode()).hexdigest()}"


ENQUEUE_BATCH = 100
"""Notifications per Celery message: a webhook's three are one publish, a sweep's thousand ten."""


def _enqueue(notification_ids: list[int]) -> None:
    # Imported here: tasks import this module.
    from .tasks import notification_deliver_many

    for start in range(0, len(notification_ids), ENQUEUE_BATCH):
        try:
            notification_deliver_many.delay(notification_ids[start : start + ENQUEUE_BATCH])
        except Exception:
            # The broker is down: stop rather than wait out a timeout per batch. The rows stay
            # PENDING and the sweeper enqueues them when the broker is back.
            logger.warning(
                "broker unavailable: %d notification(s) not enqueued; the sweeper will send them",
                len(notification_ids) - start,
                exc_info=True,
            )
            return


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
            )
        )
    written = insert_all_on_conflict(rows, on_conflict="ON CONFLICT (dedupe_key) DO NOTHING")
    pending = [n.pk for n in written if n.status == Status.PENDING]
    if pending:
        transaction.on_commit(lambda: _enqueue(pending))
    return len(pending)


def notify(
    *,
    kind: str,
    dedupe_key: str,
    context: Mapping[str, object],
    recipient: object | None = None,
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


def notification_claim(notification_id: int) -> Notification | None:
    """Claim a due PENDING notification for sending: PENDING -> SENDING in one conditional UPDATE.

    Exactly one of any number of concurrent callers wins; the others (and anyone asking
    about a row that is SENDING, SENT, FAILED or not yet due) get None. The claim counts
    as an attempt and stamps `claimed_at`, which identifies this claim from then on.
    """
    now = timezone.now()
    claimed = Notification.objects.filter(
        pk=notification_id, status=Status.PENDING, next_attempt_at__lte=now + DUE_SLACK
    ).update(status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    return Notification.objects.get(pk=notification_id) if claimed == 1 else None


def _retry_delay(attempts: int) -> int:
    """Seconds before attempt `attempts + 1`: 30 s, 60 s, 120 s, ... at most an hour."""
    return min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))


def _send_email(notification: Notification) -> None:
    timeout = settings.EMAIL_TIMEOUT or SEND_TIMEOUT_SECONDS
    with get_connection(timeout=timeout) as connection:
        EmailMessage(notification.subject, notification.body, to=[notification.email], connection=connection).send()


def notification_send(notification_id: int) -> bool:
    """Send one notification by email if this caller wins the claim. Returns True when sent.

    False when there was nothing to do (another worker has the row, or it is sent, failed
    or not yet due). A failed send keeps its error on the row: below
    settings.NOTIFICATION_MAX_ATTEMPTS the row is PENDING again, due after an exponential
    backoff, and NotificationRetry says when; at the limit it is FAILED (returns False).
    Updates after the send are fenced by this claim's `claimed_at`, so a worker whose row
    the sweeper took back cannot overwrite the new owner's outcome.
    """
    notification = notification_claim(notification_id)
    if notification is None:
        return False
    mine = Notification.objects.filter(pk=notification.pk, status=Status.SENDING, claimed_at=notification.claimed_at)
    try:
        _send_email(notification)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS:
            mine.update(status=Status.FAILED, last_error=error)
            logger.error("notification %s failed after %d attempts: %s", notification.pk, notification.attempts, error)
            return False
        retry_in = _retry_delay(notification.attempts)
        if mine.update(
            status=Status.PENDING, last_error=error, next_attempt_at=timezone.now() + timedelta(seconds=retry_in)
        ):
            raise NotificationRetry(notification.pk, error, retry_in) from exc
        return False
    # The email is out: record it whoever holds the row now, so nobody sends it again.
    Notification.objects.filter(pk=notification.pk).exclude(status=Status.SENT).update(
        status=Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return True


def notifications_sweep(
    *, pending_after: timedelta = SWEEP_AFTER, sending_grace: timedelta = CLAIM_GRACE, limit: int = SWEEP_BATCH
) -> int:
    """Enqueue the notifications their tasks did not deliver. Returns how many were enqueued.

    1. A row SENDING since before `sending_grace` lost its worker: it goes back to PENDING,
       due since its claim (so it is enqueued in this sweep when `sending_grace` is at least
       `pending_after`), or to FAILED when it has used all its attempts.
    2. Rows PENDING and due for longer than `pending_after` (the broker was down when they
       were written, or their task was lost) are enqueued, oldest first, at most `limit`;
       their due time moves to now, so the next sweep does not enqueue them again while
       their task waits in the queue.
    """
    now = timezone.now()
    lost = f"The worker sending this was lost (claimed before {now - sending_grace:%Y-%m-%d %H:%M:%S} UTC)."
    stale = Notification.objects.filter(status=Status.SENDING, claimed_at__lt=now - sending_grace)
    stale.filter(attempts__gte=settings.NOTIFICATION_MAX_ATTEMPTS).update(status=Status.FAILED, last_error=lost)
    stale.update(status=Status.PENDING, next_attempt_at=F("claimed_at"), last_error=lost)
    due = list(
        Notification.objects.filter(status=Status.PENDING, next_attempt_at__lt=now - pending_after)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    if due:
        Notification.objects.filter(pk__in=due, status=Status.PENDING).update(next_attempt_at=now)
        transaction.on_commit(lambda: _enqueue(due))
    return len(due)


def notification_resend(notification: Notification) -> bool:
    """Put a FAILED notification back in the queue with fresh attempts (support's "resend").

    The last error stays on the row until a send succeeds. False if the row is not FAILED.
    """
    updated = Notification.objects.filter(pk=notification.pk, status=Status.FAILED).update(
        status=Status.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    if updated:
        transaction.on_commit(lambda: _enqueue([notification.pk]))
    return bool(updated)


def notification_mark_read(notification: Notification, *, user: object) -> bool:
    """Mark a notification read by its recipient. True the first time, False if already read.

    Raises BlinnoError when `user` is not the recipient: nobody marks another person's messages.
    """
    if notification.recipient_id is None or notification.recipient_id != getattr(user, "pk", None):
        raise BlinnoError("This notification is not yours.", code="not_recipient")
    now = timezone.now()
    updated = Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(read_at=now)
    if updated:
        notification.read_at = now
    return bool(updated)
