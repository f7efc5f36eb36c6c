"""Writing notifications into the outbox and sending them.

`notify` is called inside the transaction that moves the money, so a notification exists
exactly when its money change does. Sending happens after commit (`notification_send`,
run by a Celery task), claimed with a compare-and-set so two workers never send one twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation

from .models import Notification
from .texts import render

logger = logging.getLogger(__name__)

Kind = Notification.Kind


def _enqueue(notification_ids: list[int]) -> None:
    # Imported here: tasks import this module.
    from .tasks import notification_deliver

    for pk in notification_ids:
        try:
            notification_deliver.delay(pk)
        except Exception:
            logger.warning("notification %s not enqueued (broker unavailable); the sweeper will send it", pk)


@dataclass(frozen=True)
class Message:
    """One notification to write: what, to whom, and the key that makes it happen once."""

    kind: str
    dedupe_key: str
    context: Mapping[str, object]
    recipient: object | None = None
    email: str | None = None


def notify_many(messages: Iterable[Message]) -> int:
    """Write notifications (each at most once per `dedupe_key`) and send them after commit.

    Texts are rendered now, in each recipient's language, so what is sent is what is kept.
    Two statements whatever the count: one insert that skips known keys, one read of the
    rows still to send. A replayed event therefore notifies nobody twice. Returns how many
    rows await sending.
    """
    rows = []
    for m in messages:
        language = getattr(m.recipient, "language", None) or settings.LANGUAGE_CODE
        with translation.override(language):
            subject, body = render(m.kind, m.context)
        address = m.email if m.email is not None else (getattr(m.recipient, "email", "") or "")
        rows.append(
            Notification(
                recipient=m.recipient,
                email=address,
                # Without an address the row is the in-app message itself: nothing to send.
                channel=Notification.Channel.EMAIL if address else Notification.Channel.IN_APP,
                status=Notification.Status.PENDING if address else Notification.Status.SENT,
                sent_at=None if address else timezone.now(),
                kind=m.kind,
                language=language,
                subject=subject[:200],
                body=body,
                dedupe_key=m.dedupe_key,
            )
        )
    if not rows:
        return 0
    Notification.objects.bulk_create(rows, ignore_conflicts=True)
    pending = list(
        Notification.objects.filter(
            dedupe_key__in=[r.dedupe_key for r in rows], status=Notification.Status.PENDING
        ).values_list("pk", flat=True)
    )
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
    """Claim a PENDING notification for sending; None if another worker has it or it is done.

    A claim older than the sweeper's grace period may be taken over: its worker died.
    """
    stale = timezone.now() - timedelta(minutes=5)
    claimed = Notification.objects.filter(pk=notification_id, status=Notification.Status.PENDING).update(
        status=Notification.Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
    ) or Notification.objects.filter(
        pk=notification_id, status=Notification.Status.SENDING, claimed_at__lt=stale
    ).update(claimed_at=timezone.now(), attempts=F("attempts") + 1)
    return Notification.objects.get(pk=notification_id) if claimed == 1 else None


def notification_send(notification_id: int) -> bool:
    """Send one notification by email if this worker wins the claim. Returns True when sent.

    A failure puts the row back to PENDING with the error kept on it (and re-raises, so
    the task retries with backoff); after settings.NOTIFICATION_MAX_ATTEMPTS it is FAILED.
    """
    notification = notification_claim(notification_id)
    if notification is None:
        return False
    try:
        send_mail(notification.subject, notification.body, None, [notification.email], fail_silently=False)
    except Exception as exc:
        exhausted = notification.attempts >= settings.NOTIFICATION_MAX_ATTEMPTS
        Notification.objects.filter(pk=notification.pk).update(
            status=Notification.Status.FAILED if exhausted else Notification.Status.PENDING,
            last_error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        raise
    Notification.objects.filter(pk=notification.pk, status=Notification.Status.SENDING).update(
        status=Notification.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return True


def notifications_sweep(*, older_than: timedelta = timedelta(minutes=2)) -> int:
    """Re-enqueue notifications left PENDING (a broker outage, a lost task). Returns the count."""
    cutoff = timezone.now() - older_than
    ids = list(
        Notification.objects.filter(status=Notification.Status.PENDING, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:1000]
    )
    _enqueue(ids)
    return len(ids)


def notification_resend(notification: Notification) -> bool:
    """Put a FAILED notification back in the queue (support's "resend"). False if not FAILED."""
    updated = Notification.objects.filter(pk=notification.pk, status=Notification.Status.FAILED).update(
        status=Notification.Status.PENDING, attempts=0
    )
    if updated:
        transaction.on_commit(lambda: _enqueue([notification.pk]))
    return bool(updated)
