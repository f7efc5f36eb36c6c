"""Prometheus metrics of the money service, exposed by ``GET /metrics``.

Two kinds:

* Counted in the process that sees them, where they are defined (webhook deliveries:
  ``clickpesa.metrics``). Under gunicorn with several workers, set ``PROMETHEUS_MULTIPROC_DIR``
  (an empty directory, cleared when the server starts): each worker then writes its values to
  files there and every scrape sums them, whichever worker answers.
* Read from the database at scrape time (:class:`DatabaseCollector`): the age of the oldest
  unfinished webhook event, the settle lag (received to settled) of recent events as a
  histogram, pending notifications, payouts in flight and stuck, the ledger
  audit's last verdict. Nothing is stored, so every worker answers the same. A database that
  cannot be read gives ``blinno_database_up 0`` instead of a failed scrape.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, FloatField, Min, Q, QuerySet, Sum
from django.db.models.expressions import RawSQL
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

logger = logging.getLogger(__name__)


SETTLE_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Upper bounds (seconds) of the settle lag histogram's buckets."""

SETTLE_LAG_WINDOW = timedelta(minutes=15)
"""The settle lag histogram counts the webhook deliveries received in this last window and settled."""


class DatabaseCollector:
    """Gauges and a histogram computed from the database on each scrape, in five indexed queries."""

    def collect(self) -> Iterator[Metric]:
        try:
            families = list(self._families(timezone.now()))
        except DatabaseError as exc:
            logger.warning("metrics: database unavailable: %s", type(exc).__name__)
            yield _gauge("blinno_database_up", "1 when the database answered this scrape", 0)
            return
        yield _gauge("blinno_database_up", "1 when the database answered this scrape", 1)
        yield from families

    def _families(self, now: datetime) -> Iterator[Metric]:
        from clickpesa.models import WebhookEvent
        from notifications.models import Notification
        from revenue.models import LedgerAuditRun, Payout

        events = GaugeMetricFamily(
            "blinno_webhook_events_unfinished", "Webhook events not yet finished, by status", labels=["status"]
        )
        event_age = GaugeMetricFamily(
            "blinno_webhook_event_oldest_age_seconds",
            "Age of the oldest webhook event in a status (0 when there is none)",
            labels=["status"],
        )
        unfinished = (WebhookEvent.Status.RECEIVED, WebhookEvent.Status.FAILED, WebhookEvent.Status.DEAD)
        rows = _by_status(WebhookEvent.objects.filter(status__in=unfinished), "received_at")
        for status in unfinished:
            count, oldest = rows.get(status, (0, None))
            events.add_metric([status], count)
            event_age.add_metric([status], _age(now, oldest))
        yield events
        yield event_age
        yield _settle_lag(now)

        notifications = GaugeMetricFamily(
            "blinno_notifications", "Notifications waiting, being sent or given up, by status", labels=["status"]
        )
        waiting = (Notification.Status.PENDING, Notification.Status.SENDING, Notification.Status.FAILED)
        rows = _by_status(Notification.objects.filter(status__in=waiting), "created_at")
        for notification_status in waiting:
            notifications.add_metric([notification_status], rows.get(notification_status, (0, None))[0])
        yield notifications
        yield _gauge(
            "blinno_notification_oldest_pending_age_seconds",
            "Age of the oldest PENDING notification (0 when there is none)",
            _age(now, rows.get(Notification.Status.PENDING, (0, None))[1]),
        )

        stuck_after = timedelta(hours=settings.MONITORING_PAYOUT_STUCK_AFTER_HOURS)
        in_flight = GaugeMetricFamily("blinno_payouts_in_flight", "Payouts PENDING or PROCESSING", labels=["status"])
        stuck = GaugeMetricFamily(
            "blinno_payouts_stuck",
            "Payouts in flight for longer than MONITORING_PAYOUT_STUCK_AFTER_HOURS since they were requested",
            labels=["status"],
        )
        payout_age = GaugeMetricFamily(
            "blinno_payout_oldest_in_flight_age_seconds",
            "Age of the oldest payout in a status since it was requested (0 when there is none)",
            labels=["status"],
        )
        counts: dict[str, tuple[int, int, datetime | None]] = {
            row["status"]: (row["n"], row["stuck"], row["oldest"])
            for row in Payout.objects.filter(status__in=Payout.IN_FLIGHT_STATUSES)
            .values("status")
            .annotate(
                n=Count("id"), stuck=Count("id", filter=Q(created_at__lt=now - stuck_after)), oldest=Min("created_at")
            )
        }
        for payout_status in Payout.IN_FLIGHT_STATUSES:
            n, n_stuck, oldest = counts.get(payout_status, (0, 0, None))
            in_flight.add_metric([payout_status], n)
            stuck.add_metric([payout_status], n_stuck)
            payout_age.add_metric([payout_status], _age(now, oldest))
        yield in_flight
        yield stuck
        yield payout_age

        audit = LedgerAuditRun.objects.only("ran_at", "ok", "differences").order_by("-ran_at").first()
        if audit is not None:
            yield _gauge("blinno_ledger_audit_ok", "1 when the last ledger audit found no difference", int(audit.ok))
            yield _gauge(
                "blinno_ledger_audit_differences", "Differences found by the last ledger audit", len(audit.differences)
            )
            yield _gauge(
                "blinno_ledger_audit_age_seconds", "Time since the last ledger audit ran", _age(now, audit.ran_at)
            )


def _settle_lag(now: datetime) -> HistogramMetricFamily:
    """Received to settled, for deliveries received in the last :data:`SETTLE_LAG_WINDOW`, in one query."""
    from clickpesa.models import WebhookEvent

    lag = RawSQL("EXTRACT(EPOCH FROM processed_at - received_at)::float8", [], output_field=FloatField())
    settled = WebhookEvent.objects.filter(
        status__in=(*WebhookEvent.FINAL_STATUSES, WebhookEvent.Status.UNMATCHED),
        received_at__gte=now - SETTLE_LAG_WINDOW,
        source=WebhookEvent.Source.WEBHOOK,
        processed_at__isnull=False,
    ).annotate(lag=lag)
    found = settled.aggregate(
        total=Count("id"),
        seconds=Sum("lag", default=0.0),
        **{f"le{i}": Count("id", filter=Q(lag__lte=bound)) for i, bound in enumerate(SETTLE_LAG_BUCKETS)},
    )
    buckets = [(str(bound), found[f"le{i}"]) for i, bound in enumerate(SETTLE_LAG_BUCKETS)]
    return HistogramMetricFamily(
        "blinno_webhook_settle_lag_seconds",
        f"Received to settled, for webhook deliveries received in the last {SETTLE_LAG_WINDOW.seconds // 60} minutes",
        buckets=[*buckets, ("+Inf", found["total"])],
        sum_value=found["seconds"],
    )


def _by_status(queryset: QuerySet, field: str) -> dict[str, tuple[int, datetime | None]]:
    rows = queryset.values("status").annotate(n=Count("id"), oldest=Min(field))
    return {row["status"]: (row["n"], row["oldest"]) for row in rows}


def _age(now: datetime, moment: datetime | None) -> float:
    return max((now - moment).total_seconds(), 0.0) if moment else 0.0


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class _Scrape:
    """One scrape: the process's (or all workers') counted metrics, then the database gauges."""

    def __init__(self, counted: CollectorRegistry) -> None:
        self.counted = counted

    def collect(self) -> Iterator[Metric]:
        yield from self.counted.collect()
        yield from DatabaseCollector().collect()


def metrics_text(accept: str = "") -> tuple[bytes, str]:
    """The metrics and their content type, in the format ``accept`` asks for (Prometheus text 0.0.4 by default).

    With ``PROMETHEUS_MULTIPROC_DIR`` set, the counted metrics are summed over every worker's files.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    encode, content_type = choose_encoder(accept)
    return encode(_Scrape(counted)), content_type
