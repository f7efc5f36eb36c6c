"""Alerts to staff from the state of the database, checked every few minutes by Celery beat.

Each alert is a staff notification whose dedupe key names the alert and a window, so a
condition that lasts is announced once per window: DEAD webhook events (each once; the inbox
also tells :func:`dead_event_alert` when an event dies), a webhook failure rate over
``MONITORING_WEBHOOK_FAILURE_RATE``, payouts in flight longer than
``MONITORING_PAYOUT_STUCK_AFTER_HOURS``, and acknowledged webhooks waiting to be settled for
longer than ``MONITORING_UNSETTLED_AFTER_MINUTES`` (the settler is down or stuck). Texts name
events and payouts, never a customer's phone number or email.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from clickpesa import inbox
from clickpesa.models import WebhookEvent
from core.money import format_money
from notifications.models import Notification, StorefrontEvent
from notifications.services import notify_staff
from revenue.models import Payout

logger = logging.getLogger(__name__)

DEAD_LOOKBACK = timedelta(days=7)
"""DEAD events received longer ago than this are not announced again (they were, when they died)."""

LISTED = 20
"""At most this many events or payouts are listed in one alert; the count says how many there are."""


@dataclass(frozen=True)
class AlertReport:
    """What one check found: DEAD events announced, the failure rate (None below the minimum volume), stuck payouts."""

    dead_events: int
    failure_rate: float | None
    failure_rate_alerted: bool
    stuck_payouts: int
    dead_storefront_events: int = 0
    unsettled_alerted: bool = False


def window_start(now: datetime, length: timedelta) -> datetime:
    """The start of the fixed window of ``length`` (counted from the Unix epoch, UTC) that holds ``now``."""
    seconds = int(length.total_seconds())
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, UTC)


def alerts_check(*, now: datetime | None = None) -> AlertReport:
    """Run every check and notify staff of what needs them; see the module docstring."""
    now = now or timezone.now()
    rate, rate_alerted = webhook_failure_rate_check(now=now)
    return AlertReport(
        dead_events=dead_events_check(now=now),
        failure_rate=rate,
        failure_rate_alerted=rate_alerted,
        stuck_payouts=stuck_payouts_check(now=now),
        dead_storefront_events=dead_storefront_events_check(now=now),
        unsettled_alerted=unsettled_events_check(now=now),
    )


def dead_storefront_events_check(*, now: datetime) -> int:
    """Tell Support about each storefront event given up in the last :data:`DEAD_LOOKBACK` (once each)."""
    dead = list(
        StorefrontEvent.objects.filter(status=StorefrontEvent.Status.DEAD, created_at__gte=now - DEAD_LOOKBACK)
        .only("pk", "type", "message_id", "attempts", "last_error")
        .order_by("created_at")[:100]
    )
    for event in dead:
        notify_staff(
            kind=Notification.Kind.STAFF_ALERT,
            # The attempt count in the key: a replayed event that dies again is announced again.
            dedupe_key=f"storefront-event:{event.pk}:dead:{event.attempts}",
            group="Support",
            context={
                "title": f"Storefront event {event.type} ({event.message_id}) undelivered "
                f"after {event.attempts} attempts",
                "detail": f"Last error: {event.last_error.splitlines()[0] if event.last_error else 'none'}. "
                "Once the storefront answers again, replay the event from the admin.",
            },
        )
    return len(dead)


def unsettled_events_check(*, now: datetime) -> bool:
    """Alert Support when the oldest acknowledged webhook has waited too long for the settler; True if alerted."""
    backlog = inbox.backlog(now=now)
    minutes = settings.MONITORING_UNSETTLED_AFTER_MINUTES
    if backlog.oldest_age is None or backlog.oldest_age < minutes * 60:
        return False
    repeat = window_start(now, timedelta(hours=settings.MONITORING_ALERT_REPEAT_HOURS))
    notify_staff(
        kind=Notification.Kind.STAFF_ALERT,
        dedupe_key=f"monitoring:webhooks-unsettled:{repeat:%Y%m%dT%H%M}",
        group="Support",
        context={
            "title": f"{backlog.count} acknowledged webhook(s) not settled; the oldest waits for "
            f"{backlog.oldest_age // 60:.0f} minutes",
            "detail": "ClickPesa was told they were received; their money has not moved yet. Check that the "
            "Celery workers and beat run (the settler is the webhook_settle task) and that the broker answers.",
        },
    )
    logger.warning("alert: %d webhook(s) unsettled, oldest %.0f s", backlog.count, backlog.oldest_age)
    return True


def dead_events_check(*, now: datetime) -> int:
    """Make sure each DEAD event of the last :data:`DEAD_LOOKBACK` was announced to Support; return their count."""
    dead = list(
        WebhookEvent.objects.filter(status=WebhookEvent.Status.DEAD, received_at__gte=now - DEAD_LOOKBACK)
        .only("pk", "event_name", "order_reference", "attempts", "error")
        .order_by("received_at")[:100]
    )
    for event in dead:
        dead_event_alert(event)
    return len(dead)


def dead_event_alert(event: WebhookEvent) -> None:
    """Tell Support that an event was given up; once per event, whether the inbox or the check writes it."""
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


def webhook_failure_rate_check(*, now: datetime) -> tuple[float | None, bool]:
    """Alert Support when too many recent deliveries were refused or failed; return (rate, alerted)."""
    length = timedelta(minutes=settings.MONITORING_WEBHOOK_FAILURE_WINDOW_MINUTES)
    recent = WebhookEvent.objects.filter(source=WebhookEvent.Source.WEBHOOK, received_at__gte=now - length)
    failed = Q(status__in=(WebhookEvent.Status.FAILED, WebhookEvent.Status.DEAD)) | ~Q(error="")
    counts = recent.aggregate(
        total=Count("id"),
        rejected=Count("id", filter=Q(status=WebhookEvent.Status.REJECTED)),
        failed=Count("id", filter=failed & ~Q(status=WebhookEvent.Status.REJECTED)),
    )
    if counts["total"] < settings.MONITORING_WEBHOOK_FAILURE_MIN_EVENTS:
        return None, False
    rate = (counts["rejected"] + counts["failed"]) / counts["total"]
    if rate < settings.MONITORING_WEBHOOK_FAILURE_RATE:
        return rate, False
    reasons = Counter(
        recent.filter(status=WebhookEvent.Status.REJECTED).values_list("detail", flat=True)[:1000]
    ).most_common(3)
    errors = Counter(
        (error.splitlines() or [""])[0][:200]
        for error in recent.filter(failed).exclude(error="").values_list("error", flat=True)[:1000]
    ).most_common(3)
    minutes = settings.MONITORING_WEBHOOK_FAILURE_WINDOW_MINUTES
    lines = [
        f"Of {counts['total']} webhook deliveries in the last {minutes} minutes, "
        f"{counts['rejected']} were refused (4xx) and {counts['failed']} failed in processing.",
        *(f"Refused {n} times: {reason}" for reason, n in reasons),
        *(f"Failed {n} times: {error}" for error, n in errors),
        "Many refusals with a checksum error usually mean ClickPesa's checksum key changed; "
        "failures are retried, and replayed from the admin once their cause is fixed.",
    ]
    notify_staff(
        kind=Notification.Kind.STAFF_ALERT,
        dedupe_key=f"monitoring:webhook-failure-rate:{window_start(now, length):%Y%m%dT%H%M}",
        group="Support",
        context={"title": f"{rate:.0%} of webhooks refused or failed in {minutes} minutes", "detail": "\n".join(lines)},
    )
    logger.warning("alert: webhook failure rate %.2f over %d deliveries", rate, counts["total"])
    return rate, True


def stuck_payouts_check(*, now: datetime) -> int:
    """Alert Support to payouts in flight for too long; return how many there are."""
    hours = settings.MONITORING_PAYOUT_STUCK_AFTER_HOURS
    stuck = Payout.objects.filter(status__in=Payout.IN_FLIGHT_STATUSES, created_at__lt=now - timedelta(hours=hours))
    count = stuck.count()
    if not count:
        return 0
    newest = stuck.order_by("-pk").values_list("pk", flat=True).first()
    listed = [
        f"{p.reference}: {format_money(p.amount, p.currency)} to {p.destination_label}, {p.status} since "
        f"{timezone.localtime(p.created_at):%Y-%m-%d %H:%M}"
        + (f"; last error: {p.last_error[:200]}" if p.last_error else "")
        for p in stuck.order_by("created_at")[:LISTED]
    ]
    repeat = window_start(now, timedelta(hours=settings.MONITORING_ALERT_REPEAT_HOURS))
    notify_staff(
        kind=Notification.Kind.STAFF_ALERT,
        # The newest stuck payout in the key: one more stuck payout is announced at once.
        dedupe_key=f"monitoring:payouts-stuck:{repeat:%Y%m%dT%H%M}:{newest}",
        group="Support",
        context={
            "title": f"{count} payout(s) in flight for more than {hours} hours",
            "detail": "\n".join(
                [
                    *listed,
                    *([f"… and {count - LISTED} more."] if count > LISTED else []),
                    "Re-query ClickPesa from the admin: it applies ClickPesa's status, "
                    "or submits again a payout ClickPesa does not know.",
                ]
            ),
        },
    )
    logger.warning("alert: %d payout(s) stuck in flight for more than %d hours", count, hours)
    return count
