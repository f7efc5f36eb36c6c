"""payment_start with a phone number: a USSD push through ClickPesa (the simulator), after commit."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import transaction

from devtools.simulator import ClickPesaSimulator
from payments.models import Order, Payment
from payments.services import payment_start
from tests.factories import OrderFactory

KEY = "push-checksum-key"
PHONE = "255754000111"
INITIATE = "/payments/initiate-ussd-push-request"


@pytest.fixture(autouse=True)
def clickpesa_settings(settings):
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    settings.CLICKPESA_CLIENT_ID = "sim-client"
    settings.CLICKPESA_API_KEY = "sim-key"
    settings.CLICKPESA_CHECKSUM_KEY = KEY
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "push"}}
    cache.clear()


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what waits for the commit when the block ends, as a commit of the test's work would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def start(settings):
    started: list[ClickPesaSimulator] = []

    def start(**knobs) -> ClickPesaSimulator:
        simulator = ClickPesaSimulator(**knobs).start()
        started.append(simulator)
        settings.CLICKPESA_BASE_URL = simulator.url
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


@pytest.mark.django_db
def test_it_sends_a_ussd_push_for_the_payment_once_it_is_committed(start, committed):
    simulator = start()
    order = OrderFactory()

    with committed():
        payment = payment_start(order, phone_number=PHONE)
    payment.refresh_from_db()

    [push] = [r for r in simulator.requests if r.path == INITIATE]
    assert push.body == {
        "amount": str(int(payment.amount)),
        "currency": "TZS",
        "orderReference": payment.reference,
        "phoneNumber": PHONE,
        "checksum": push.body["checksum"],
    }
    assert payment.status == Payment.Status.PENDING
    assert payment.push_sent_at is not None
    assert payment.gateway_id == simulator.payments[payment.reference].id


@pytest.mark.django_db(transaction=True)
def test_the_pushed_payment_is_completed_by_clickpesas_webhook_to_our_endpoint(start, live_server):
    simulator = start(webhook_url=live_server.url)
    payment = payment_start(OrderFactory(), phone_number=PHONE)

    simulator.deliver_pending()

    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert payment.order.status == Order.Status.PAID


@pytest.mark.django_db
def test_an_invalid_phone_number_fails_the_payment_with_clickpesas_reason(start, committed):
    start()

    with committed():
        payment = payment_start(OrderFactory(), phone_number="0754000111")
    payment.refresh_from_db()

    assert payment.status == Payment.Status.FAILED
    assert payment.failure_reason == "Invalid / unsupported phone number"
    assert payment.last_error == "clickpesa_invalid_request: Invalid / unsupported phone number (HTTP 400)"
    assert payment.order.status == Order.Status.PAYMENT_FAILED


@pytest.mark.django_db
def test_a_transient_push_error_is_kept_on_the_payment_which_stays_pending(start, committed):
    simulator = start()
    simulator.fail_next(INITIATE, status=504, message="Gateway Timeout")

    with committed():
        payment = payment_start(OrderFactory(), phone_number=PHONE)
    payment.refresh_from_db()

    assert payment.status == Payment.Status.PENDING
    assert payment.push_sent_at is None
    assert payment.last_error == "clickpesa_server_error: Gateway Timeout (HTTP 504)"
    assert "USSD push failed: clickpesa_server_error" in payment.notes


@pytest.mark.django_db(transaction=True)
def test_no_push_is_sent_for_a_payment_that_was_rolled_back(start):
    simulator = start()
    order = OrderFactory()

    with pytest.raises(RuntimeError), transaction.atomic():
        payment_start(order, phone_number=PHONE)
        raise RuntimeError("the checkout failed after starting the payment")

    assert not Payment.objects.exists()
    assert [r for r in simulator.requests if r.path == INITIATE] == []


@pytest.mark.django_db
def test_no_push_is_sent_without_a_phone_number(start, committed):
    simulator = start()

    with committed():
        payment = payment_start(OrderFactory())
    payment.refresh_from_db()

    assert payment.push_sent_at is None
    assert simulator.requests == []


@pytest.mark.django_db
def test_without_credentials_no_push_is_sent_and_nothing_is_recorded(start, settings, committed):
    simulator = start()
    settings.CLICKPESA_API_KEY = ""

    with committed():
        payment = payment_start(OrderFactory(), phone_number=PHONE)
    payment.refresh_from_db()

    assert (payment.status, payment.push_sent_at, payment.last_error) == (Payment.Status.PENDING, None, "")
    assert simulator.requests == []
