"""The work queues of the staff home page, declared in one list.

Each queue names the rows that wait for a person, whose work they are (Finance, Support),
and what to do with them; README.md's runbook says the same at more length. To add a queue,
append a ``WorkQueue`` to ``QUEUES``: the home page counts it and its model's changelist gains
it as a filter (``?queue=<key>``).
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from clickpesa.models import WebhookEvent
from core.queues import WorkQueue
from notifications.models import Notification
from payments.models import Payment
from revenue.models import Approval, Payout

from .models import StatementLine

FINANCE, SUPPORT = "Finance", "Support"


def payments_needing_review() -> QuerySet[Payment]:
    return Payment.objects.filter(status=Payment.Status.NEEDS_REVIEW)


def payouts_needing_review() -> QuerySet[Payout]:
    return Payout.objects.filter(needs_review=True)


def payouts_returned_not_retried() -> QuerySet[Payout]:
    retried = Payout.objects.filter(retry_of=OuterRef("pk"))
    return Payout.objects.filter(
        status__in=(Payout.Status.FAILED, Payout.Status.REFUNDED, Payout.Status.REVERSED)
    ).exclude(Exists(retried))


def payouts_waiting() -> QuerySet[Payout]:
    """Pending and never submitted, or submitted and still unsettled, for longer than the threshold."""
    cut = timezone.now() - timedelta(minutes=settings.BACKOFFICE_PAYOUT_WAIT_MINUTES)
    return Payout.objects.filter(
        Q(submitted_at__isnull=True, created_at__lt=cut) | Q(submitted_at__lt=cut),
        status__in=Payout.IN_FLIGHT_STATUSES,
    )


def payouts_paid_not_reconciled() -> QuerySet[Payout]:
    return Payout.objects.filter(status=Payout.Status.PAID, reconciled_at__isnull=True)


def events_needing_attention() -> QuerySet[WebhookEvent]:
    return WebhookEvent.objects.filter(status__in=WebhookEvent.REPLAYABLE_STATUSES)


def statement_lines_unresolved() -> QuerySet[StatementLine]:
    return StatementLine.objects.exclude(outcome=StatementLine.Outcome.MATCHED).filter(resolved_at__isnull=True)


def approvals_waiting() -> QuerySet[Approval]:
    return Approval.objects.filter(decision=Approval.Decision.PENDING)


def notifications_failed() -> QuerySet[Notification]:
    return Notification.objects.filter(status=Notification.Status.FAILED)


QUEUES: list[WorkQueue] = [
    WorkQueue(
        key="payments_review",
        title="Payments needing review",
        meaning="ClickPesa reported something our books could not take as it was (another amount, success "
        "after failure, an order paid twice). Open each: capture as collected, or dismiss with a reason "
        "(refunds go through the order).",
        model=Payment,
        rows=payments_needing_review,
        roles=(FINANCE, SUPPORT),
    ),
    WorkQueue(
        key="payouts_review",
        title="Payouts needing review",
        meaning="A payout ClickPesa reported on oddly (another amount, a report before submission) or whose "
        "submissions ran out. Read its notes and events, act, then clear the flag with a reason.",
        model=Payout,
        rows=payouts_needing_review,
        roles=(FINANCE, SUPPORT),
    ),
    WorkQueue(
        key="payouts_returned",
        title="Payouts failed, refunded or reversed, not retried",
        meaning="The creator's money is back in their available balance. Fix the destination with the "
        "creator if needed, then retry (optionally to another method).",
        model=Payout,
        rows=payouts_returned_not_retried,
        roles=(SUPPORT, FINANCE),
    ),
    WorkQueue(
        key="payouts_waiting",
        title="Payouts waiting too long",
        meaning="Pending and never submitted, or submitted and unsettled, past the threshold. The payout's "
        "page says why it waits; submit it now or re-query ClickPesa.",
        model=Payout,
        rows=payouts_waiting,
        roles=(SUPPORT,),
    ),
    WorkQueue(
        key="payouts_unreconciled",
        title="Paid payouts not reconciled",
        meaning="Paid by ClickPesa, not yet checked against a statement. Import the statement: its matching "
        "lines reconcile them.",
        model=Payout,
        rows=payouts_paid_not_reconciled,
        roles=(FINANCE,),
    ),
    WorkQueue(
        key="events_attention",
        title="Webhook events failed, dead or unmatched",
        meaning="Deliveries that did not apply. Open each: replay it (an unmatched one finds a payment or "
        "payout created since), link an unmatched one to our reference and replay it, or dismiss it with a reason.",
        model=WebhookEvent,
        rows=events_needing_attention,
        roles=(SUPPORT,),
    ),
    WorkQueue(
        key="statement_unresolved",
        title="Statement lines unresolved",
        meaning="Lines of an imported statement that did not match our books. Accept a match, post an "
        "adjustment for the difference, or resolve with a note.",
        model=StatementLine,
        rows=statement_lines_unresolved,
        roles=(FINANCE,),
    ),
    WorkQueue(
        key="approvals_waiting",
        title="Approvals waiting",
        meaning="Refunds, adjustments and large payouts another person asked for. Check each and approve or "
        "reject it with a reason; nothing moves until then, and nobody decides what they asked for.",
        model=Approval,
        rows=approvals_waiting,
        roles=(FINANCE,),
    ),
    WorkQueue(
        key="notifications_failed",
        title="Notifications failed",
        meaning="Messages every attempt failed to send. Check the address and the error, then resend.",
        model=Notification,
        rows=notifications_failed,
        roles=(SUPPORT,),
    ),
]
