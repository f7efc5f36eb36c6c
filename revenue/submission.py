"""Submitting PENDING payouts to ClickPesa: an outbox claimed with a compare-and-set, crash-safe.

One attempt claims the payout (one conditional UPDATE counts it and moves ``next_submission_at``
a lease ahead), asks ClickPesa about the reference first when an earlier attempt may have got
through, then previews and creates it, and applies the answer (docs/architecture.md, "A payout").
A cool-down or a transient error plans the next attempt (:class:`Submission`, enqueued by
revenue.tasks); a definitive refusal fails the payout and returns its money; after
:data:`MAX_ATTEMPTS` Support is alerted. Errors are kept on the payout. Without ClickPesa
credentials nothing is submitted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from clickpesa.client import (
    BankPayout,
    ClickPesaClient,
    ClickPesaError,
    CoolDown,
    ReferenceAlreadyUsed,
    credentials_configured,
)
from clickpesa.payloads import GatewayStatus, PayoutData
from clickpesa.polling import latest
from core.backoff import CLAIM_LEASE, retry_delay
from core.money import format_money
from core.notes import append_note
from notifications.models import Notification
from notifications.services import notify_staff

from .models import Payout, PayoutMethod, PayoutStatusChange
from .payouts import payout_apply_gateway_status

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
"""Attempts before Support is alerted: 30 s, 1, 2, 4 and 8 minutes apart (about 15 minutes)."""

SWEEP_AFTER = timedelta(minutes=1)
"""A payout due this long was not submitted by its task: the sweeper submits it."""

BANK_TRANSFER_TYPE = "ACH"
"""Bank payouts go by ACH; RTGS (same day, dearer) is not offered to creators."""


@dataclass(frozen=True)
class Submission:
    """What one call of :func:`payout_submit` did.

    ``result``: ``submitted`` (ClickPesa's answer was applied), ``refused`` (definitive refusal:
    the payout FAILED and its money came back), ``retry`` (a later attempt is planned in
    ``retry_in`` seconds), ``gave_up`` (the last attempt failed; Support was alerted),
    ``skipped`` (not due, not PENDING, or claimed by another worker) or ``not_configured``.
    """

    result: str
    detail: str = ""
    retry_in: int | None = None


def _due(now: datetime) -> Q:
    return Q(status=Payout.Status.PENDING, submitted_at__isnull=True, next_submission_at__lte=now)


def payout_claim(payout_id: int) -> int | None:
    """Claim a due payout for one submission attempt; return the attempts made before, or None.

    One conditional UPDATE counts the attempt and moves ``next_submission_at`` a lease ahead:
    of any number of concurrent callers exactly one wins; a payout that is not PENDING, was
    already accepted by ClickPesa, or is not yet due is never claimed.
    """
    now = timezone.now()
    claimed = Payout.objects.filter(_due(now), pk=payout_id).update(
        submission_attempts=F("submission_attempts") + 1, next_submission_at=now + CLAIM_LEASE, updated_at=now
    )
    if claimed != 1:
        return None
    return Payout.objects.values_list("submission_attempts", flat=True).get(pk=payout_id) - 1


def payout_submit(payout_id: int) -> Submission:
    """Make one submission attempt of a due PENDING payout (see the module docstring)."""
    if not credentials_configured():
        logger.info("payout=%s not submitted: ClickPesa credentials are not configured", payout_id)
        return Submission("not_configured", "ClickPesa credentials are not configured")
    attempts_before = payout_claim(payout_id)
    if attempts_before is None:
        return Submission("skipped", "not due, not pending, or claimed by another worker")
    payout = Payout.objects.select_related("creator").get(pk=payout_id)
    with ClickPesaClient() as client:
        try:
            answer = _find(client, payout) if attempts_before else None
        except ClickPesaError as exc:
            # Whatever the query's error, whether an earlier attempt got through is still unknown.
            return _failed_attempt(payout, exc, attempt=attempts_before + 1)
        if answer is None:
            try:
                answer = _create(client, payout)
            except CoolDown as exc:
                return _retry_later(payout, exc, seconds=max(exc.seconds, 1))
            except ClickPesaError as exc:
                if exc.definitive:
                    return _refused(payout, exc)
                # Transient, or no verdict at all: the payout may exist at ClickPesa; ask next time.
                return _failed_attempt(payout, exc, attempt=attempts_before + 1)
    return _apply(payout, answer)


def _find(client: ClickPesaClient, payout: Payout) -> PayoutData | None:
    """ClickPesa's latest record of the payout's reference, or None when it has none."""
    return latest(client.query_payout(order_reference=payout.reference))


def _create(client: ClickPesaClient, payout: Payout) -> PayoutData:
    """Preview, then create the payout; on 409 the reference was used by an earlier attempt: query it."""
    snapshot = payout.method_snapshot or {}
    try:
        if snapshot.get("kind", payout.method_kind) == PayoutMethod.Kind.BANK_ACCOUNT:
            bank = BankPayout(
                amount=payout.amount,
                account_number=snapshot.get("account_number", ""),
                account_name=snapshot.get("account_name", ""),
                bic=snapshot.get("bic", ""),
                transfer_type=BANK_TRANSFER_TYPE,
                currency=payout.currency,
                account_currency=payout.currency,
                order_reference=payout.reference,
            )
            client.preview_bank_payout(bank)
            return client.create_bank_payout(bank)
        mobile = {
            "amount": payout.amount,
            "phone_number": snapshot.get("account_number", ""),
            "currency": payout.currency,
            "order_reference": payout.reference,
        }
        client.preview_mobile_money_payout(**mobile)
        return client.create_mobile_money_payout(**mobile)
    except ReferenceAlreadyUsed as used:
        try:
            answer = _find(client, payout)
        except ClickPesaError as exc:
            answer, why = None, f"the query failed: {exc}"
        else:
            # ClickPesa's query can lag its create.
            why = "ClickPesa does not show the payout yet"
        if answer is None:
            # Neither transient nor definitive: the next attempt asks again.
            raise ReferenceAlreadyUsed(f"{used}; {why}", status_code=used.status_code, body=used.body) from used
        return answer


def _apply(payout: Payout, answer: PayoutData) -> Submission:
    """Record that ClickPesa holds the payout, then apply its status (source ``api``)."""
    now = timezone.now()
    Payout.objects.filter(pk=payout.pk).update(
        submitted_at=Coalesce("submitted_at", Value(now)), next_submission_at=None, last_error="", updated_at=now
    )
    result = payout_apply_gateway_status(
        payout,
        answer.status,
        source=PayoutStatusChange.Source.API,
        gateway_id=answer.gateway_id or "",
        amount=answer.amount,
        fee=answer.fee,
        currency=answer.currency,
        reason=answer.reason or "",
        fee_returned=bool(answer.reversed_with_fee),
    )
    logger.info("payout=%s submitted: ClickPesa says %s; %s", payout.pk, answer.raw_status, result.detail)
    return Submission("submitted", f"ClickPesa says {answer.raw_status or 'nothing'}: {result.detail}")


def _refused(payout: Payout, exc: ClickPesaError) -> Submission:
    """A definitive refusal: nothing was created, so the payout fails and the money comes back."""
    _record_error(payout, exc, next_at=None)
    result = payout_apply_gateway_status(
        payout, GatewayStatus.FAILED, source=PayoutStatusChange.Source.API, reason=f"ClickPesa refused: {exc}"
    )
    logger.warning("payout=%s refused by ClickPesa (%s): %s", payout.pk, exc.code, exc)
    return Submission("refused", f"{exc.code}: {exc} ({result.detail})")


def _retry_later(payout: Payout, exc: ClickPesaError, *, seconds: int) -> Submission:
    """ClickPesa asked to wait (a cool-down): plan the next attempt after the wait it stated."""
    _record_error(payout, exc, next_at=timezone.now() + timedelta(seconds=seconds))
    return Submission("retry", f"{exc.code}: {exc}", retry_in=seconds)


def _failed_attempt(payout: Payout, exc: ClickPesaError, *, attempt: int) -> Submission:
    """A transient error: keep the money in flight; retry with backoff, or alert Support after the last."""
    attempts = attempt
    if attempts < MAX_ATTEMPTS:
        delay = int(retry_delay(attempts).total_seconds())
        _record_error(payout, exc, next_at=timezone.now() + timedelta(seconds=delay))
        logger.warning("payout=%s attempt %d failed (%s), retry in %d s: %s", payout.pk, attempts, exc.code, delay, exc)
        return Submission("retry", f"{exc.code}: {exc}", retry_in=delay)

    _record_error(payout, exc, next_at=None, needs_review=True)
    notify_staff(
        kind=Notification.Kind.STAFF_ALERT,
        dedupe_key=f"payout:{payout.pk}:submission-gave-up:{attempts}",
        group="Support",
        context={
            "title": f"Payout {payout.reference} could not be submitted to ClickPesa after {attempts} attempts",
            "detail": (
                f"{format_money(payout.amount, payout.currency)} to {payout.destination_label}. "
                f"Last error: {exc.code}: {exc}. Whether ClickPesa holds the payout is unknown, so the money "
                "stays in flight. Fix the cause, then use Re-query ClickPesa: it applies ClickPesa's status, "
                "or submits the payout again if ClickPesa has none."
            ),
        },
    )
    logger.error("payout=%s gave up after %d attempts (%s): %s", payout.pk, attempts, exc.code, exc)
    return Submission("gave_up", f"{exc.code}: {exc}")


@transaction.atomic
def _record_error(payout: Payout, exc: ClickPesaError, *, next_at: datetime | None, needs_review: bool = False) -> None:
    """Keep the error on the payout (``last_error`` and a line in ``notes``) and plan the next attempt."""
    locked = Payout.objects.select_for_update().get(pk=payout.pk)
    error = f"{exc.code}: {exc}"
    if exc.status_code:
        error += f" (HTTP {exc.status_code})"
    locked.last_error = error
    locked.notes = append_note(locked.notes, f"Submission attempt {locked.submission_attempts} failed: {error}")
    fields = ["last_error", "notes", "updated_at"]
    if locked.status == Payout.Status.PENDING:
        locked.next_submission_at = next_at
        fields.append("next_submission_at")
    if needs_review:
        locked.needs_review = True
        fields.append("needs_review")
    locked.save(update_fields=fields)


def payouts_submit_sweep(*, limit: int = 200) -> int:
    """Submit every PENDING payout due for over :data:`SWEEP_AFTER` (oldest first); return how many were tried.

    Catches submissions whose task was lost and retries whose countdown never fired. Does
    nothing without ClickPesa credentials.
    """
    if not credentials_configured():
        return 0
    due = list(
        Payout.objects.filter(_due(timezone.now() - SWEEP_AFTER))
        .order_by("next_submission_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in due if payout_submit(pk).result != "skipped")


def payout_submission_rearm(payout: Payout) -> bool:
    """Plan a new submission now for a PENDING payout whose attempts ran out; True when planned (enqueue it then).

    Only for a payout ClickPesa was asked about and does not know: sending the same reference
    again is safe (ClickPesa refuses a reused reference with 409, which is then queried).
    """
    now = timezone.now()
    planned = Payout.objects.filter(
        pk=payout.pk,
        status=Payout.Status.PENDING,
        submitted_at__isnull=True,
        next_submission_at__isnull=True,
        submission_attempts__gt=0,  # never one held for approval, which was never tried
    ).update(next_submission_at=now, updated_at=now)
    return planned == 1


def payout_release_for_submission(payout: Payout) -> bool:
    """Make a payout held for approval (PENDING, never tried, nothing planned) due now; True when released."""
    now = timezone.now()
    released = Payout.objects.filter(
        pk=payout.pk,
        status=Payout.Status.PENDING,
        submission_attempts=0,
        next_submission_at__isnull=True,
    ).update(next_submission_at=now, updated_at=now)
    return released == 1
