"""ClickPesa events that concern revenue: payouts and merchant top-ups (deposits).

:func:`register` (called from ``RevenueConfig.ready``) gives them to the inbox; each handler
runs inside the inbox's transaction with the event row locked and takes the typed data.
"""

from __future__ import annotations

from dataclasses import replace

from clickpesa import registry
from clickpesa.models import WebhookEvent
from clickpesa.payloads import (
    DEPOSIT_RECEIVED,
    PAYOUT_INITIATED,
    PAYOUT_REFUNDED,
    PAYOUT_REVERSED,
    DepositData,
    Envelope,
    GatewayStatus,
    PayoutData,
    parse_deposit,
    parse_payout,
)
from core.results import Result

from .models import Deposit, Payout
from .payouts import payout_event_apply, payout_events_settle
from .services import deposit_record

# The event name fixes the outcome for returns; PAYOUT INITIATED carries it in data.status.
# The old service's names (COMPLETED, FAILED) are accepted and read by their status too.
EVENT_STATUS = {PAYOUT_REFUNDED: GatewayStatus.REFUNDED, PAYOUT_REVERSED: GatewayStatus.REVERSED}
PAYOUT_EVENTS = (PAYOUT_INITIATED, PAYOUT_REFUNDED, PAYOUT_REVERSED, "PAYOUT COMPLETED", "PAYOUT FAILED")


def parse_payout_event(envelope: Envelope) -> PayoutData:
    """A payout event's data; its status is the event name's for returns (REFUNDED, REVERSED)."""
    data = parse_payout(envelope.data)
    status = EVENT_STATUS.get(envelope.event)
    if status is None or data.status == status:
        return data
    return replace(data, status=status)


def payout_event(event: WebhookEvent, data: PayoutData) -> Result:
    """Apply a payout's status (a webhook's, or a query's answer stored as one) to the payout it names."""
    return payout_event_apply(data, event=event)


def deposit_event(event: WebhookEvent, data: DepositData) -> Result:
    """Record a top-up of our ClickPesa balance, once per ClickPesa reference."""
    return deposit_record(
        reference=data.reference,
        amount=data.amount,
        currency=data.currency,
        gateway_id=data.gateway_id or "",
        event=event,
    )


def _find_payout(reference: str) -> Payout | None:
    return Payout.objects.filter(reference=reference).first()


def _find_deposit(reference: str) -> Deposit | None:
    return Deposit.objects.filter(reference=reference).first()


def register() -> None:
    """Give the payout and deposit events to the inbox, and tell it how to find their rows."""
    registry.register(PAYOUT_EVENTS, payout_event, parse=parse_payout_event, settle_many=payout_events_settle)
    registry.register([DEPOSIT_RECEIVED], deposit_event, parse=lambda envelope: parse_deposit(envelope.data))
    registry.register_subject(_find_payout)
    registry.register_subject(_find_deposit)
