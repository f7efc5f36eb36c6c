"""Four eyes: money that needs a second person moves only when another permitted user approves it.

:func:`approval_request` records what someone asks for; :func:`approval_approve` and
:func:`approval_reject` record another person's decision and carry it out in the same
transaction, through the handler its kind registered (:func:`register`: revenue registers
adjustments and payouts, payments registers refunds, so this module knows nothing above it).
The decider must hold ``revenue.decide_approval`` and must not be the requester (the database
refuses that too). Each step writes a ``LogEntry`` on the approval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.db import transaction
from django.utils import timezone

from core.errors import BlinnoError
from core.money import format_money
from core.users import User

from .models import Approval

Decision = Approval.Decision
DECIDE_PERMISSION = "revenue.decide_approval"


class ApprovalError(BlinnoError):
    code = "approval_refused"


@dataclass(frozen=True)
class Handler:
    """What approving (``approve(approval, by) -> outcome``) and rejecting an approval of one kind does."""

    approve: Callable[[Approval, User], str]
    reject: Callable[[Approval, User], str]


_handlers: dict[str, Handler] = {}


def register(kind: str, *, approve: Callable[[Approval, User], str], reject: Callable[[Approval, User], str]) -> None:
    """Give ``kind`` what its approval and its rejection do (from ``AppConfig.ready``; again is harmless)."""
    _handlers[kind] = Handler(approve, reject)


def _log(approval: Approval, by: User, action: int, message: str) -> None:
    LogEntry.objects.log_actions(
        user_id=by.pk,
        queryset=[approval],
        action_flag=action,
        change_message=message[:1000],
        single_object=True,
    )


def approval_request(
    kind: str,
    *,
    amount: Decimal,
    currency: str,
    by: User,
    reason: str,
    summary: str,
    subject_type: str = "",
    subject_id: int | None = None,
    payload: Mapping[str, object] | None = None,
) -> Approval:
    """Record that ``by`` asks for ``summary`` (with a reason); nothing moves until another person approves."""
    if not reason.strip():
        raise ApprovalError("A reason is required.", code="reason_required")
    approval = Approval.objects.create(
        kind=kind,
        amount=amount,
        currency=currency,
        requested_by=by,
        reason=reason.strip()[:500],
        summary=summary[:300],
        subject_type=subject_type,
        subject_id=subject_id,
        payload=dict(payload or {}),
    )
    _log(approval, by, ADDITION, f"Asked: {summary} ({format_money(amount, currency)}): {reason.strip()}")
    return approval


def _lock_pending(approval: Approval, by: User) -> Approval:
    locked = Approval.objects.select_for_update().get(pk=approval.pk)
    if locked.decision != Decision.PENDING:
        raise ApprovalError(
            f"Approval #{locked.pk} was already {locked.get_decision_display().lower()}.", code="decided"
        )
    if locked.requested_by_id == by.pk:
        raise ApprovalError("Someone else must decide what you asked for.", code="self_approval")
    if not by.has_perm(DECIDE_PERMISSION):
        raise ApprovalError("You may not decide approvals.", code="not_allowed")
    return locked


def _decide(approval: Approval, by: User, decision: str, *, reason: str) -> Approval:
    locked = _lock_pending(approval, by)
    handler = _handlers.get(locked.kind)
    if handler is None:  # every kind registers from its app's ready(); a missing one is a deployment bug
        raise ApprovalError(f"Nothing carries out a {locked.get_kind_display()}.", code="no_handler")
    act = handler.approve if decision == Decision.APPROVED else handler.reject
    locked.decision_reason = reason.strip()[:500]
    outcome = act(locked, by)
    locked.decision = decision
    locked.decided_by = by
    locked.decided_at = timezone.now()
    locked.outcome = outcome[:500]
    locked.save(update_fields=["decision", "decided_by", "decided_at", "decision_reason", "outcome"])
    verb = "Approved" if decision == Decision.APPROVED else "Rejected"
    _log(locked, by, CHANGE, f"{verb}: {outcome}" + (f" ({reason.strip()})" if reason.strip() else ""))
    return locked


@transaction.atomic
def approval_approve(approval: Approval, *, by: User, reason: str = "") -> Approval:
    """Approve and carry out what another person asked for; refused for the requester, for someone
    without ``revenue.decide_approval``, and for an approval already decided."""
    return _decide(approval, by, Decision.APPROVED, reason=reason)


@transaction.atomic
def approval_reject(approval: Approval, *, by: User, reason: str) -> Approval:
    """Reject (with a reason) what another person asked for; its kind undoes anything held for it."""
    if not reason.strip():
        raise ApprovalError("A reason is required to reject.", code="reason_required")
    return _decide(approval, by, Decision.REJECTED, reason=reason)


def approvals_waiting() -> int:
    """How many approvals wait for a decision (the staff home page's queue)."""
    return Approval.objects.filter(decision=Decision.PENDING).count()
