"""ClickPesa payment webhooks: ``PAYMENT RECEIVED`` and ``PAYMENT FAILED`` (DESIGN.md handlers 1 and 2).

Registered with :mod:`clickpesa.handlers` when the app is ready. The receiver calls
:func:`payment_event` inside its transaction, with the event row locked; the services it
calls lock the payment and its order.
"""

from __future__ import annotations

from clickpesa.handlers import register
from clickpesa.models import WebhookEvent
from clickpesa.outcome import Outcome
from clickpesa.payloads import Envelope, GatewayStatus, PayloadError, PaymentData, parse_payment

from .models import Payment
from .services import payment_mark_failed, payment_mark_received

PAYMENT_RECEIVED = "PAYMENT RECEIVED"
PAYMENT_FAILED = "PAYMENT FAILED"

SUCCESS_STATUSES = frozenset({GatewayStatus.SUCCESS, GatewayStatus.SETTLED})
IN_PROGRESS_STATUSES = frozenset(
    {GatewayStatus.PENDING, GatewayStatus.PROCESSING, GatewayStatus.ON_HOLD, GatewayStatus.AUTHORIZED}
)


def _is_failure(envelope: Envelope, data: PaymentData) -> bool:
    return envelope.event == PAYMENT_FAILED or data.status == GatewayStatus.FAILED


def parse_payment_event(envelope: Envelope) -> PaymentData:
    """Read a payment event's data; a success must say how much was collected and in what currency.

    Raises :class:`PayloadError` (the receiver answers 400) for a missing ``orderReference``,
    an invalid amount, or a ``PAYMENT RECEIVED`` success without amount or currency.
    """
    data = parse_payment(envelope.data)
    if not _is_failure(envelope, data) and data.status in SUCCESS_STATUSES:
        if data.amount is None:
            raise PayloadError("missing 'collectedAmount'")
        if data.currency is None:
            raise PayloadError("missing 'collectedCurrency'")
    return data


@register(PAYMENT_RECEIVED, PAYMENT_FAILED, parse=parse_payment_event)
def payment_event(event: WebhookEvent, envelope: Envelope) -> Outcome:
    """Apply a payment event to the payment whose ``reference`` is its ``orderReference``.

    Unknown reference: ``UNMATCHED`` (another ClickPesa product's payment, or one not yet
    stored; a redelivery tries again). ``PAYMENT FAILED`` or status FAILED: handler 2.
    SUCCESS/SETTLED: handler 1. In-progress statuses are recorded on the event and change
    nothing; an unknown status is ignored with the word kept in the detail.
    """
    data = parse_payment_event(envelope)
    payment = Payment.objects.filter(reference=data.order_reference).first()
    if payment is None:
        return Outcome.unmatched(f"no payment with reference {data.order_reference!r}")
    if _is_failure(envelope, data):
        return payment_mark_failed(
            payment,
            reason=data.message or "",
            gateway_id=data.gateway_id or "",
            channel=data.channel or "",
            event=event,
        )
    if data.status in SUCCESS_STATUSES:
        return payment_mark_received(
            payment,
            amount=data.amount,
            currency=data.currency,
            gateway_id=data.gateway_id or "",
            gateway_reference=data.payment_reference or "",
            channel=data.channel or "",
            event=event,
        )
    if data.status in IN_PROGRESS_STATUSES:
        return Outcome.ignored(f"status {data.raw_status} recorded; no money change")
    return Outcome.ignored(f"unknown payment status {data.raw_status!r}; nothing changed")
