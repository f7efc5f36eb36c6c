"""ClickPesa events that concern revenue: payouts and merchant top-ups (deposits).

Registered with the shared receiver (clickpesa.handlers); each runs inside the
receiver's transaction and returns an Outcome for the inbox row.
"""

from clickpesa.handlers import register
from clickpesa.models import WebhookEvent
from clickpesa.outcome import Outcome
from clickpesa.payloads import Envelope, GatewayStatus, parse_deposit, parse_payout

from .models import Payout, PayoutStatusChange
from .services import deposit_record, payout_apply_gateway_status

# The event name fixes the outcome for returns; PAYOUT INITIATED carries it in data.status.
# The old service's names (COMPLETED, FAILED) are accepted and read by their status too.
EVENT_STATUS = {
    "PAYOUT REFUNDED": GatewayStatus.REFUNDED,
    "PAYOUT REVERSED": GatewayStatus.REVERSED,
}


@register("PAYOUT INITIATED", "PAYOUT REFUNDED", "PAYOUT REVERSED", "PAYOUT COMPLETED", "PAYOUT FAILED")
def payout_event(event: WebhookEvent, envelope: Envelope) -> Outcome:
    data = parse_payout(envelope.data)
    payout = Payout.objects.filter(reference=data.order_reference).first()
    if payout is None:
        # Other ClickPesa products (dashboard payouts) share this URL: acknowledge and keep.
        return Outcome.unmatched(f"no payout with reference {data.order_reference}")
    return payout_apply_gateway_status(
        payout,
        EVENT_STATUS.get(envelope.event, data.status),
        # A poll's answer (clickpesa.polling) comes through here too; the audit trail says which.
        source=PayoutStatusChange.Source.POLL
        if event.source == WebhookEvent.Source.POLL
        else PayoutStatusChange.Source.WEBHOOK,
        event=event,
        gateway_id=data.gateway_id or "",
        amount=data.amount,
        fee=data.fee,
        currency=data.currency,
        reason=data.reason or "",
        fee_returned=bool(data.reversed_with_fee),
    )


@register("DEPOSIT RECEIVED")
def deposit_event(event: WebhookEvent, envelope: Envelope) -> Outcome:
    data = parse_deposit(envelope.data)
    return deposit_record(
        reference=data.reference,
        amount=data.amount,
        currency=data.currency,
        gateway_id=data.gateway_id or "",
        event=event,
    )
