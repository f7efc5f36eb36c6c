"""Payout runs: propose on schedule, trim, approve (four eyes), then submit one at a time, paced.

:func:`payout_run_propose` lists every creator whose available balance reaches the minimum and
who has a default payout method. Staff drop lines (:func:`payout_run_drop`) and ask for approval
(:func:`payout_run_ask_approval`); another person approves it through revenue.approvals, which
reserves every line's payout (held: nothing is submitted yet) and starts the dispatcher.

One dispatcher at a time (a lease on the run row) submits the queued payouts in order, one per
cool-down (:func:`payout_run_dispatch_step`): it waits for the shared create-payout slot
(clickpesa.ratelimit) before each, so no create is ever refused for cooling down unless another
process raced it; a cool-down answer pushes the whole queue back, not one payout. A Celery task
runs each step and schedules the next; a beat sweep restarts a run whose task was lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Sum
from django.utils import timezone
from django.utils.formats import date_format

from clickpesa import ratelimit
from clickpesa.client import CoolDown, credentials_configured
from core.errors import BlinnoError
from core.money import Currency, format_money
from core.users import User

from . import approvals
from .ledger import InsufficientFunds
from .models import Approval, LedgerAccount, Payout, PayoutMethod, PayoutRun, PayoutRunLine
from .payouts import PayoutError
from .services import payout_request
from .submission import payout_release_for_submission, payout_submit

logger = logging.getLogger(__name__)

Status = PayoutRun.Status
LineStatus = PayoutRunLine.Status
DISPATCH_LEASE = timedelta(minutes=2)
"""A dispatcher holds its run this long at most; a lost one's run is taken over after it."""


class PayoutRunError(BlinnoError):
    code = "payout_run_refused"


@transaction.atomic
def payout_run_propose(*, currency: str = Currency.TZS, by: User | None = None) -> PayoutRun:
    """Propose a run: a line per creator with an available balance at least the payout minimum and a
    default payout method, largest balance first. Refused while another run of the currency is open."""
    if PayoutRun.objects.filter(currency=currency, status__in=PayoutRun.OPEN_STATUSES).exists():
        raise PayoutRunError(f"A {currency} payout run is already open.", code="run_open")
    minimum = settings.PAYOUT_MINIMUM.get(currency, Decimal(0))
    has_method = PayoutMethod.objects.filter(creator_id=OuterRef("creator_id"), is_default=True)
    accounts = (
        LedgerAccount.objects.filter(
            kind=LedgerAccount.Kind.CREATOR_AVAILABLE,
            currency=currency,
            balance__gte=max(minimum, Decimal("0.01")),
            creator__is_active=True,
        )
        .filter(Exists(has_method))
        .order_by("-balance", "creator_id")
        .values_list("creator_id", "balance")
    )
    run = PayoutRun.objects.create(
        currency=currency, proposed_by=by, cooldown_seconds=settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS
    )
    PayoutRunLine.objects.bulk_create(
        PayoutRunLine(run=run, position=position, creator_id=creator_id, proposed_amount=balance)
        for position, (creator_id, balance) in enumerate(accounts, start=1)
    )
    return run


@transaction.atomic
def payout_run_drop(lines: list[PayoutRunLine], *, by: User, reason: str) -> int:
    """Drop lines of a proposed run (with a reason); return how many were dropped."""
    if not reason.strip():
        raise PayoutRunError("A reason is required to drop a line.", code="reason_required")
    return PayoutRunLine.objects.filter(
        pk__in=[line.pk for line in lines], status=LineStatus.PROPOSED, run__status=Status.PROPOSED
    ).update(status=LineStatus.DROPPED, dropped_by=by, note=f"Dropped: {reason.strip()}"[:300])


@transaction.atomic
def payout_run_ask_approval(run: PayoutRun, *, by: User, reason: str = "") -> Approval:
    """Freeze a proposed run and ask another person to approve it (revenue.approvals; four eyes)."""
    locked = PayoutRun.objects.select_for_update().get(pk=run.pk)
    if locked.status != Status.PROPOSED:
        raise PayoutRunError(f"{locked} is not a proposal any more.", code="not_proposed")
    lines = locked.lines.filter(status=LineStatus.PROPOSED)
    total = lines.aggregate(total=Sum("proposed_amount", default=Decimal(0)))["total"]
    count = lines.count()
    if not count:
        raise PayoutRunError("Every line was dropped: nothing to approve.", code="empty_run")
    approval = approvals.approval_request(
        Approval.Kind.PAYOUT_RUN,
        amount=total,
        currency=locked.currency,
        by=by,
        reason=reason.strip() or "Scheduled payout run",
        summary=f"Payout run #{locked.pk}: {count} payouts, {format_money(total, locked.currency)}",
        subject_type="revenue.payoutrun",
        subject_id=locked.pk,
    )
    locked.approval = approval
    locked.status = Status.AWAITING_APPROVAL
    locked.save(update_fields=["approval", "status"])
    return approval


def _approved(approval: Approval, by: User) -> str:
    """Reserve each line's payout (held, nothing submitted); the dispatcher sweep starts the run."""
    run = PayoutRun.objects.select_for_update().get(pk=approval.subject_id or 0)
    if run.status != Status.AWAITING_APPROVAL:
        raise PayoutRunError(f"{run} is not waiting for approval.", code="not_waiting")
    queued = skipped = 0
    for line in run.lines.filter(status=LineStatus.PROPOSED).select_related("creator").order_by("position"):
        try:
            with transaction.atomic():
                payout = payout_request(line.creator, currency=run.currency, requested_by=by, hold_submission=True)
        except (PayoutError, InsufficientFunds) as exc:
            line.status, line.note = LineStatus.SKIPPED, str(exc)[:300]
            line.save(update_fields=["status", "note"])
            skipped += 1
            continue
        line.status, line.payout = LineStatus.QUEUED, payout
        line.save(update_fields=["status", "payout"])
        queued += 1
    now = timezone.now()
    run.status = Status.DISPATCHING if queued else Status.DONE
    run.cooldown_seconds = settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS
    run.started_at = now
    run.next_dispatch_at = now
    run.finished_at = None if queued else now
    run.save(update_fields=["status", "cooldown_seconds", "started_at", "next_dispatch_at", "finished_at"])
    return f"{queued} payouts reserved and queued (submitting starts within a minute), {skipped} skipped"


def _rejected(approval: Approval, by: User) -> str:
    PayoutRun.objects.filter(pk=approval.subject_id or 0, status=Status.AWAITING_APPROVAL).update(
        status=Status.CANCELLED, finished_at=timezone.now()
    )
    return "run cancelled; nothing was reserved"


def register_approvals() -> None:
    """What approving and rejecting a payout run does (called from RevenueConfig.ready)."""
    approvals.register(Approval.Kind.PAYOUT_RUN, approve=_approved, reject=_rejected)


def _claim(run_id: int, now: datetime) -> bool:
    """Take the run's dispatch turn: one conditional UPDATE, so of any number of dispatchers one wins."""
    return (
        PayoutRun.objects.filter(pk=run_id, status=Status.DISPATCHING, next_dispatch_at__lte=now)
        .filter(Q(dispatch_lease_until__isnull=True) | Q(dispatch_lease_until__lt=now))
        .update(dispatch_lease_until=now + DISPATCH_LEASE)
        == 1
    )


def _hand_back(run_id: int, *, next_at: datetime, **changes: object) -> None:
    PayoutRun.objects.filter(pk=run_id).update(next_dispatch_at=next_at, dispatch_lease_until=None, **changes)


def payout_run_dispatch_step(run_id: int) -> float | None:
    """Submit the run's next queued payout if it is the run's turn; return seconds until the next turn
    (None when the run is finished or another dispatcher has it).

    Before each submission the shared create-payout slot must be free (clickpesa.ratelimit): if it
    is not, the turn moves to when it frees. A cool-down answer (ClickPesa's, or our limiter's when
    another process took the slot) pushes the whole queue back by the wait it states.
    """
    now = timezone.now()
    if not _claim(run_id, now):
        # Not this caller's turn: the dispatcher whose turn it is schedules the next one.
        return None
    run = PayoutRun.objects.get(pk=run_id)
    line = run.lines.filter(status=LineStatus.QUEUED).order_by("position").select_related("payout").first()
    if line is None or line.payout is None:
        _hand_back(run_id, next_at=now, status=Status.DONE, finished_at=now)
        return None
    if not credentials_configured():
        wait = 60.0
        _hand_back(run_id, next_at=now + timedelta(seconds=wait))
        return wait
    wait = ratelimit.payout_create_wait()
    if wait > 0:
        _hand_back(run_id, next_at=now + timedelta(seconds=wait))
        return wait

    payout = line.payout
    payout_release_for_submission(payout)
    started = timezone.now()
    result = payout_submit(payout.pk)
    if result.result == "retry" and result.detail.startswith(CoolDown.code):
        wait = float(result.retry_in or run.cooldown_seconds)
        ratelimit.pause_payout_creates(wait)
        _hand_back(run_id, next_at=timezone.now() + timedelta(seconds=wait), cooldowns=run.cooldowns + 1)
        logger.warning("payout run %s: cool-down answer, the whole queue waits %.1f s", run_id, wait)
        return wait
    if result.result == "skipped":
        payout.refresh_from_db()
        if payout.status == Payout.Status.PENDING and payout.submitted_at is None and payout.next_submission_at:
            # Its retry after a cool-down is not due yet: the queue waits for it, in order.
            next_at = max(payout.next_submission_at, timezone.now())
            _hand_back(run_id, next_at=next_at)
            return (next_at - timezone.now()).total_seconds()
    # Submitted, refused, or left to its own retries (a transient error): the queue moves on.
    line.status = LineStatus.FAILED if result.result in ("refused", "gave_up") else LineStatus.SUBMITTED
    line.submitted_at = started
    line.note = f"{result.result}: {result.detail}"[:300]
    line.save(update_fields=["status", "submitted_at", "note"])
    next_at = started + timedelta(seconds=run.cooldown_seconds)
    _hand_back(run_id, next_at=next_at)
    return max((next_at - timezone.now()).total_seconds(), 0.0)


def payout_runs_dispatch_due() -> list[int]:
    """Runs whose turn has come and that no dispatcher holds (just approved, or their task was lost):
    their ids, to enqueue. A dispatcher already scheduled for the turn races the new one for the
    claim; the loser ends, so there is never more than one chain per run."""
    now = timezone.now()
    return list(
        PayoutRun.objects.filter(status=Status.DISPATCHING, next_dispatch_at__lte=now)
        .filter(Q(dispatch_lease_until__isnull=True) | Q(dispatch_lease_until__lt=now))
        .values_list("pk", flat=True)
    )


@dataclass(frozen=True)
class RunProgress:
    """Where a run stands: lines by status, what is left, and when it should be done."""

    total: int
    submitted: int
    failed: int
    queued: int
    dropped: int
    eta: datetime | None

    @property
    def summary(self) -> str:
        """ "412 payouts, done about Thu 14:00 EAT"."""
        if self.eta is None:
            return f"{self.total} payouts"
        local = timezone.localtime(self.eta)
        return f"{self.total} payouts, done about {date_format(local, 'D H:i')} {local.strftime('%Z') or 'EAT'}"


def payout_run_progress(run: PayoutRun) -> RunProgress:
    """Count the run's lines and estimate its end: from the next turn, one cool-down per payout left,
    plus the time ClickPesa may take to answer the last create (``CLICKPESA_TIMEOUT_SECONDS``)."""
    counts = dict.fromkeys(LineStatus.values, 0)
    for status in run.lines.values_list("status", flat=True):
        counts[status] += 1
    queued = counts[LineStatus.QUEUED]
    pending = queued if run.status == Status.DISPATCHING else counts[LineStatus.PROPOSED]
    cooldown = run.cooldown_seconds if run.status == Status.DISPATCHING else settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS
    eta = None
    if run.status in PayoutRun.OPEN_STATUSES and pending:
        start = max(run.next_dispatch_at or timezone.now(), timezone.now())
        eta = start + timedelta(seconds=cooldown * pending + settings.CLICKPESA_TIMEOUT_SECONDS)
    elif run.finished_at:
        eta = run.finished_at
    active = sum(counts[s] for s in (LineStatus.PROPOSED, LineStatus.QUEUED, LineStatus.SUBMITTED, LineStatus.FAILED))
    return RunProgress(
        total=active,
        submitted=counts[LineStatus.SUBMITTED],
        failed=counts[LineStatus.FAILED],
        queued=queued,
        dropped=counts[LineStatus.DROPPED] + counts[LineStatus.SKIPPED],
        eta=eta,
    )
