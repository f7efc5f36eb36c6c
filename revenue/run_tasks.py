"""Celery tasks of payout runs (revenue.runs), apart from revenue.tasks: runs reserve payouts through
revenue.services, which enqueues through revenue.tasks. Registered by RevenueConfig.ready."""

from __future__ import annotations

import logging

from celery import shared_task

from . import runs

logger = logging.getLogger(__name__)


@shared_task
def payout_run_propose() -> int | None:
    """Propose this week's payout run (Celery beat, PAYOUT_RUN_DAY_OF_WEEK at PAYOUT_RUN_TIME); its id."""
    try:
        return runs.payout_run_propose().pk
    except runs.PayoutRunError as exc:
        logger.warning("payout run not proposed: %s", exc)
        return None


@shared_task(acks_late=True)
def payout_run_dispatch(run_id: int) -> float | None:
    """One turn of a run's dispatcher; schedules the next turn itself (one chain per run: revenue.runs)."""
    wait = runs.payout_run_dispatch_step(run_id)
    if wait is not None:
        payout_run_dispatch_enqueue(run_id, countdown=wait)
    return wait


@shared_task
def payout_runs_dispatch_sweep() -> int:
    """Start the dispatcher of every run whose turn came with no dispatcher holding it (Celery beat)."""
    due = runs.payout_runs_dispatch_due()
    for run_id in due:
        payout_run_dispatch_enqueue(run_id)
    return len(due)


def payout_run_dispatch_enqueue(run_id: int, *, countdown: float = 0) -> None:
    """Enqueue a run's next turn; never raises (the sweep starts it again when the broker is back)."""
    try:
        payout_run_dispatch.apply_async((run_id,), countdown=max(countdown, 0))
    except Exception:
        logger.warning("payout run %s: next turn not enqueued (broker unavailable); the sweep restarts it", run_id)
