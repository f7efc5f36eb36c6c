"""ClickPesa payment webhooks: ``PAYMENT RECEIVED`` and ``PAYMENT FAILED`` (handlers 1 and 2), and our own
``PAYMENT REVERSED`` (a query's or statement's answer that the payment came back).

:func:`register` (called from ``PaymentsConfig.ready``) gives them to the inbox. The handler
runs inside the inbox's transaction with the event row locked; payments.services locks the
payment and its order.
"""

from __future__ import annotations

from clickpesa import registry
from clickpesa.models import WebhookEvent
from clickpesa.payloads import (
    PAYMENT_FAILED,
    PAYMENT_RECEIVED,
    PAYMENT_REVERSED,
    Envelope,
    PayloadError,
    PaymentData,
    parse_payment,
)
from core.results import Result

from .models import Payment
from .services import SUCCESS_STATUSES, payment_event_apply, payment_events_settle


def parse_payment_event(envelope: Envelope) -> PaymentData:
    """Read a payment event's data; a success must say how much was collected and in what currency.

    Raises :class:`PayloadError` (the receiver answers 400) for a missing ``orderReference``,
    an invalid amount, or a ``PAYMENT RECEIVED`` success without amount or currency.
    """
    data = parse_payment(envelope.data)
    if envelope.event != PAYMENT_FAILED and data.status in SUCCESS_STATUSES:
        if data.amount is None:
            raise PayloadError("missing 'collectedAmount'")
        if data.currency is None:
            raise PayloadError("missing 'collectedCurrency'")
    return data


def payment_event(event: WebhookEvent, data: PaymentData) -> Result:
    """Apply a payment event (a webhook's, or a query's answer stored as one); see ``payment_event_apply``."""
    return payment_event_apply(data, event=event)


def _find_payment(reference: str) -> Payment | None:
    return Payment.objects.filter(reference=reference).first()


def register() -> None:
    """Give the payment events to the inbox, and tell it how to find a payment by reference."""
    registry.register(
        [PAYMENT_RECEIVED, PAYMENT_FAILED, PAYMENT_REVERSED],
        payment_event,
        parse=parse_payment_event,
        settle_many=payment_events_settle,
    )
    registry.register_subject(_find_payment)
