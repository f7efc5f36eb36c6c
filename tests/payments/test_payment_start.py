"""payment_start: which orders take a payment, what a new attempt re-opens, and when the USSD push goes out.

ClickPesa is faked at the HTTP layer with `responses`.
"""

import pytest
import responses
from django.core.cache import cache

from core.errors import BlinnoError
from payments.models import Order, Payment
from payments.services import payment_mark_failed, payment_push, payment_start
from revenue.models import PlatformFee
from tests.factories import OrderFactory, PaymentFactory, capture

BASE = "https://clickpesa.invalid/third-parties"
PUSH = f"{BASE}/payments/initiate-ussd-push-request"
PHONE = "255754000111"


@pytest.fixture
def clickpesa(settings):
    """ClickPesa's API, answered by `responses`: a token and an accepted USSD push."""
    settings.CLICKPESA_BASE_URL = BASE
    settings.CLICKPESA_CLIENT_ID, settings.CLICKPESA_API_KEY = "client", "key"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "start"}}
    cache.clear()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.post(f"{BASE}/generate-token", json={"success": True, "token": "Bearer t"})
        api.post(PUSH, json={"id": "PUSH0001", "status": "PROCESSING", "channel": "M-PESA"})
        yield api


def _pushes(api: responses.RequestsMock) -> list:
    return [call for call in api.calls if call.request.url == PUSH]


def _fee_statuses(order: Order) -> set[str]:
    return set(PlatformFee.objects.filter(order=order).values_list("status", flat=True))


@pytest.mark.django_db
def test_it_opens_a_pending_attempt_for_the_order_total():
    order = OrderFactory()

    payment = payment_start(order)

    payment.refresh_from_db()
    assert payment.order == order
    assert (payment.status, payment.amount, payment.currency) == (Payment.Status.PENDING, order.total, "TZS")
    assert payment.reference.startswith("BLN")
    assert len(payment.reference) == 15
    assert (payment.phone_number, payment.push_sent_at, payment.gateway_id) == ("", None, "")


@pytest.mark.django_db
def test_every_attempt_has_its_own_reference():
    order = OrderFactory()

    references = {payment_start(order).reference for _ in range(5)}

    assert len(references) == 5
    assert order.payments.count() == 5


@pytest.mark.django_db
def test_it_refuses_an_order_that_is_already_paid():
    paid = capture(PaymentFactory())

    with pytest.raises(BlinnoError) as refused:
        payment_start(paid.order)

    assert refused.value.code == "order_closed"
    assert refused.value.message == f"Order #{paid.order_id} is Paid; it takes no payment."
    assert Payment.objects.filter(order=paid.order_id).count() == 1
    paid.order.refresh_from_db()
    assert paid.order.status == Order.Status.PAID
    assert _fee_statuses(paid.order) == {PlatformFee.Status.COLLECTED}


@pytest.mark.django_db
def test_it_refuses_a_cancelled_order():
    order = OrderFactory()
    Order.objects.filter(pk=order.pk).update(status=Order.Status.CANCELLED)  # no cancellation service yet

    with pytest.raises(BlinnoError) as refused:
        payment_start(order)

    assert refused.value.code == "order_closed"
    assert "is Cancelled" in refused.value.message
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_a_refused_start_sends_no_push(clickpesa, django_capture_on_commit_callbacks):
    paid = capture(PaymentFactory())

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(BlinnoError):
        payment_start(paid.order, phone_number=PHONE)

    assert callbacks == []
    assert _pushes(clickpesa) == []


@pytest.mark.django_db
def test_a_new_attempt_after_a_failure_reopens_the_order_and_its_fee_rows():
    first = PaymentFactory()
    payment_mark_failed(first, reason="Insufficient balance")
    order = first.order
    order.refresh_from_db()
    assert (order.status, _fee_statuses(order)) == (Order.Status.PAYMENT_FAILED, {PlatformFee.Status.REFUNDED})

    second = payment_start(order)

    order.refresh_from_db()
    first.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert _fee_statuses(order) == {PlatformFee.Status.PENDING}
    assert second.status == Payment.Status.PENDING
    assert first.status == Payment.Status.FAILED  # the failed attempt stays as it was


@pytest.mark.django_db
def test_a_second_attempt_while_the_first_is_pending_leaves_the_order_and_fees_as_they_are():
    first = PaymentFactory()

    payment_start(first.order)

    order = Order.objects.get(pk=first.order_id)
    assert order.status == Order.Status.PENDING
    assert _fee_statuses(order) == {PlatformFee.Status.PENDING}
    assert [p.status for p in order.payments.all()] == [Payment.Status.PENDING, Payment.Status.PENDING]


@pytest.mark.django_db
def test_the_ussd_push_waits_for_the_commit(clickpesa, django_capture_on_commit_callbacks):
    order = OrderFactory()

    with django_capture_on_commit_callbacks() as callbacks:
        payment = payment_start(order, phone_number=PHONE)

    payment.refresh_from_db()
    assert _pushes(clickpesa) == []
    assert (payment.phone_number, payment.push_sent_at) == (PHONE, None)
    assert len(callbacks) == 1

    callbacks[0]()  # the commit

    payment.refresh_from_db()
    [push] = _pushes(clickpesa)
    assert payment.reference.encode() in push.request.body
    assert payment.push_sent_at is not None
    assert (payment.gateway_id, payment.last_error) == ("PUSH0001", "")


@pytest.mark.django_db
def test_the_push_is_sent_once_even_if_asked_for_twice(clickpesa, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_start(OrderFactory(), phone_number=PHONE)
    sent_at = Payment.objects.get(pk=payment.pk).push_sent_at

    payment_push(payment.pk)

    payment.refresh_from_db()
    assert len(_pushes(clickpesa)) == 1
    assert payment.push_sent_at == sent_at


@pytest.mark.django_db
def test_no_push_is_sent_for_a_payment_that_failed_before_the_commit(clickpesa, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        payment = payment_start(OrderFactory(), phone_number=PHONE)
        payment_mark_failed(payment, reason="Cancelled at checkout")

    for callback in callbacks:
        callback()

    payment.refresh_from_db()
    assert _pushes(clickpesa) == []
    assert (payment.status, payment.push_sent_at) == (Payment.Status.FAILED, None)
