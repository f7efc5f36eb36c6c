"""Celery tasks for revenue: thin wrappers around revenue's modules."""

from __future__ import annotations

import logging

from celery import shared_task

from notifications.models import Notification
from notifications.services import notify_staff

from . import fees, ledger, polling, statement_files, submission

logger = logging.getLogger(__name__)


@shared_task
def earnings_release_due() -> int:
    """Release held earnings whose hold has ended (hourly, Celery beat)."""
    return fees.earnings_release_due()


@shared_task
def ledger_audit() -> bool:
    """Nightly audit of the ledger; any difference alerts finance. Returns the verdict."""
    run = ledger.ledger_audit()
    if not run.ok:
        notify_staff(
            kind=Notification.Kind.FINANCE_ALERT,
            dedupe_key=f"ledger-audit:{run.pk}",
            context={
                "title": f"Ledger audit found {len(run.differences)} difference(s)",
                "detail": "\n".join(" · ".join(f"{k}={v}" for k, v in d.items()) for d in run.differences[:50]),
            },
        )
    return run.ok


@shared_task
def statements_send_monthly() -> int:
    """Email last month's statement to every creator who opted in (Celery beat, early each month)."""
    return statement_files.statements_send_monthly()


@shared_task(acks_late=True)
def payout_submit(payout_id: int) -> str:
    """Submit one PENDING payout to ClickPesa if it is due and unclaimed; enqueue the next attempt it plans."""
    result = submission.payout_submit(payout_id)
    if result.retry_in is not None:
        payout_submit_enqueue(payout_id, countdown=result.retry_in)
    return result.result


@shared_task
def payouts_submit_sweep() -> int:
    """Submit every payout left due by a lost task or a retry that never fired; scheduled by Celery beat."""
    return submission.payouts_submit_sweep()


@shared_task
def payouts_poll() -> int:
    """Ask ClickPesa about payouts whose webhook is overdue; scheduled by Celery beat."""
    return len(polling.poll_payouts_due().results)


def payout_submit_enqueue(payout_id: int, *, countdown: float = 0) -> None:
    """Enqueue the submission task; never raises (with the broker down the sweeper submits it)."""
    try:
        payout_submit.apply_async((payout_id,), countdown=max(countdown, 0))
    except Exception:
        logger.warning("payout=%s submission not enqueued (broker unavailable); the sweeper will submit it", payout_id)


@shared_task
def ledger_close_days() -> int:
    """Close the platform accounts' ended days (hourly, Celery beat); returns the rows written."""
    return ledger.ledger_close_days()
