"""The handler registry: apps register by event name; a second handler for one event is refused."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from clickpesa import handlers
from clickpesa.handlers import lookup, register, registrations
from clickpesa.payloads import PayloadError, parse_envelope
from payments.webhooks import parse_payment_event, payment_event
from tests.clickpesa.samples import sample_bytes


def test_payment_events_are_registered_when_the_app_is_ready():
    assert lookup("PAYMENT RECEIVED").handler is payment_event
    assert lookup("PAYMENT FAILED").handler is payment_event
    assert {"PAYMENT RECEIVED", "PAYMENT FAILED"} <= set(registrations())


def test_an_unregistered_event_has_no_handler():
    assert lookup("CARD TOKENISED") is None


def test_it_refuses_a_second_handler_for_an_event():
    def impostor(event, envelope):
        raise AssertionError("never called")

    with pytest.raises(ImproperlyConfigured, match="already has a handler"):
        register("PAYMENT RECEIVED")(impostor)

    assert lookup("PAYMENT RECEIVED").handler is payment_event


def test_registering_the_same_handler_again_is_harmless():
    """A module imported twice registers twice; names are normalised like incoming events."""
    register("  payment   received ", parse=parse_payment_event)(payment_event)

    assert lookup("PAYMENT RECEIVED").handler is payment_event


def test_it_refuses_a_registration_without_event_names():
    with pytest.raises(ImproperlyConfigured, match="at least one event name"):
        register()


def test_a_handler_without_a_parser_gets_its_family_parser(monkeypatch):
    # A copy of the registry for this test, so the made-up event does not outlive it.
    monkeypatch.setattr(handlers, "_registry", dict(registrations()))

    def handle_refund(event, envelope):
        raise AssertionError("never called")

    register("PAYMENT REFUNDED FOR THIS TEST")(handle_refund)
    envelope = parse_envelope(sample_bytes("payment_failed.json"))
    del envelope.data["orderReference"]

    with pytest.raises(PayloadError, match="missing 'orderReference'"):
        lookup("PAYMENT REFUNDED FOR THIS TEST").parse(envelope)
