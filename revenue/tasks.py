"""Celery tasks for revenue: thin wrappers around revenue services."""

from celery import shared_task

from notifications.models import Notification
from notifications.services import notify_staff

from . import services, submission
from .ledger import ledger_audit as run_ledger_audit


@shared_task
def earnings_release_due() -> int:
    """Release held earnings whose hold has ended (hourly, Celery beat)."""
    return services.earnings_release_due()


@shared_task
def ledger_audit() -> bool:
    """Nightly audit of the ledger; any difference alerts finance. Returns the verdict."""
    run = run_ledger_audit()
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


@shared_task(acks_late=True)
def payout_submit(payout_id: int) -> str:
    """Submit one PENDING payout to ClickPesa if it is due and unclaimed (enqueued after the reserve commits)."""
    return submission.payout_submit(payout_id).result


@shared_task
def payouts_submit_sweep() -> int:
    """Submit every payout left due by a lost task or a retry that never fired; scheduled by Celery beat."""
    return submission.payouts_submit_sweep()
