"""Asking ClickPesa instead of waiting for a webhook: what one question gave, and its answer applied.

The domain apps decide what to ask about (payments.polling, revenue.polling); an answer worth
applying goes through :func:`ingest_answer`, which stores it as the webhook ClickPesa would
have sent (source ``poll``) and applies it with the same handler. So it sits in the same
audit trail and dedupes against the real webhook: a late delivery with the same content is a
duplicate, and one with other content finds the payment or payout already moved.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from . import inbox, tasks
from .client import ClickPesaClient, session
from .metrics import observe
from .models import WebhookEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollResult:
    """What asking ClickPesa about one payment or payout gave.

    ``gateway_status`` is ClickPesa's status word (``""`` when it has no record or the query
    failed); ``event`` the stored poll event, if one was made; ``error`` the query's failure;
    ``detail`` one sentence for people.
    """

    kind: str
    reference: str
    gateway_status: str
    detail: str
    event: WebhookEvent | None = None
    error: str = ""

    @property
    def outcome(self) -> str:
        """``error``, ``unknown`` (no record at ClickPesa), ``no event`` (still in progress), or the event's status."""
        if self.error:
            return "error"
        if self.event is None:
            return "no event" if self.gateway_status else "unknown"
        return self.event.status


@dataclass
class PollSummary:
    """Every result of one polling run."""

    results: list[PollResult] = field(default_factory=list)

    @property
    def counts(self) -> Counter[str]:
        """How many results had each :attr:`PollResult.outcome`."""
        return Counter(result.outcome for result in self.results)

    @property
    def errors(self) -> list[PollResult]:
        return [result for result in self.results if result.error]

    def log(self, what: str) -> None:
        if self.results:
            counts = ", ".join(f"{outcome}={count}" for outcome, count in sorted(self.counts.items()))
            logger.info("clickpesa %s: %d asked: %s", what, len(self.results), counts)


class _Dated(Protocol):
    @property
    def last_changed(self) -> datetime | None: ...


D = TypeVar("D", bound=_Dated)
M = TypeVar("M", bound=Model)
_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def latest(answers: Sequence[D]) -> D | None:
    """The answer ClickPesa changed last (a query may list several attempts of one reference)."""
    return max(answers, key=lambda answer: answer.last_changed or _LONG_AGO, default=None)


def requested_by(by: object | None) -> dict[str, str]:
    """The headers a poll event is stored with: who asked (the poller, or a staff member)."""
    if by is None:
        return {"user-agent": "blinno poller"}
    return {"user-agent": "blinno re-query", "x-requested-by": str(getattr(by, "username", by))}


def ingest_answer(
    kind: str,
    *,
    event_name: str,
    data: Any,
    fields: Mapping[str, Any],
    gateway_status: str,
    endpoint: str,
    by: object | None = None,
) -> PollResult:
    """Store and apply an answer as the webhook ``event_name`` with ``fields`` as its data (see the module docstring).

    ``data`` is the typed form of ``fields`` that the event's handler takes.
    """
    started = time.monotonic()
    reference = str(fields.get("orderReference") or "")
    processing = inbox.ingest(event_name, data, fields, endpoint=endpoint, headers=requested_by(by))
    tasks.webhook_event_retry_enqueue(processing)
    event = processing.event
    observe(event, processing.answer(), started)
    if not processing.ran:
        detail = f"ClickPesa says {gateway_status}; already recorded as event #{event.pk} ({event.status})"
    else:
        detail = f"ClickPesa says {gateway_status}; event #{event.pk} {event.status}: {event.detail or event.error}"
    return PollResult(kind, reference, gateway_status, detail, event=event)


def poll_overdue(
    rows: QuerySet[M],
    *,
    period: timedelta,
    ask: Callable[[M, ClickPesaClient], PollResult],
    what: str,
    limit: int = 200,
    client: ClickPesaClient | None = None,
) -> PollSummary:
    """Ask about each of ``rows`` created over ``period`` ago and not asked about within it.

    Oldest first, at most ``limit``. Each row is claimed with a compare-and-set on its
    ``last_polled_at`` before it is asked about, so two runs at once never ask about one row.
    A failed question is kept in the summary; the next run asks again.
    """
    now = timezone.now()
    not_lately = Q(last_polled_at__isnull=True) | Q(last_polled_at__lt=now - period)
    summary = PollSummary()
    with session(client) as api:
        for row in rows.filter(not_lately, created_at__lte=now - period).order_by("created_at")[:limit]:
            if rows.model._default_manager.filter(not_lately, pk=row.pk).update(last_polled_at=now) == 1:
                summary.results.append(ask(row, api))
    summary.log(what)
    return summary
