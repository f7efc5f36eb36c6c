"""The handler registry: apps register explicitly by event name; a second handler for one event is refused."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from clickpesa.registry import find_subject, lookup, register
from payments.webhooks import parse_payment_event, payment_event
from revenue.webhooks import payout_event
from tests.factories import PaymentFactory, PayoutFactory


def test_payment_events_are_registered_when_the_app_is_ready():
    assert lookup("PAYMENT RECEIVED").handle is payment_event
    assert lookup("PAYMENT FAILED").handle is payment_event
    assert lookup("PAYOUT REVERSED").handle is payout_event
    assert lookup("PAYOUT INITIATED").handle is payout_event
    assert lookup("DEPOSIT RECEIVED") is not None


def test_an_unregistered_event_has_no_handler():
    assert lookup("CARD TOKENISED") is None


def test_it_refuses_a_second_handler_for_an_event():
    def impostor(event, data):
        raise AssertionError("never called")

    with pytest.raises(ImproperlyConfigured, match="already has a handler"):
        register(["PAYMENT RECEIVED"], impostor, parse=parse_payment_event)

    assert lookup("PAYMENT RECEIVED").handle is payment_event


def test_registering_the_same_handler_again_is_harmless():
    """ready() may run twice; names are normalised like incoming events."""
    register(["  payment   received "], payment_event, parse=parse_payment_event)

    assert lookup("PAYMENT RECEIVED").handle is payment_event


def test_it_refuses_a_registration_without_event_names():
    with pytest.raises(ImproperlyConfigured, match="non-empty event names"):
        register([], payment_event, parse=parse_payment_event)


@pytest.mark.django_db
def test_the_admin_finds_our_row_by_reference_through_the_domains_finders():
    payment = PaymentFactory()
    payout = PayoutFactory()

    assert find_subject(payment.reference) == payment
    assert find_subject(payout.reference) == payout
    assert find_subject("BLNUNKNOWN000") is None
