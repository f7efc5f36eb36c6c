"""Order.TRANSITIONS and Payment.TRANSITIONS: the only moves order_transition and payment_transition make."""

from datetime import timedelta
from itertools import product

import pytest
from django.utils import timezone

from payments.models import Order, Payment
from payments.services import PaymentError, order_transition, payment_transition
from tests.factories import OrderFactory, PaymentFactory

ORDER_STATUSES = list(Order.Status.values)
PAYMENT_STATUSES = list(Payment.Status.values)

# What docs/architecture.md ("States") allows, written out independently of the models' tables.
ORDER_MOVES = {
    ("PENDING", "PAID"),
    ("PENDING", "PAYMENT_FAILED"),
    ("PENDING", "CANCELLED"),
    ("PAYMENT_FAILED", "PENDING"),
    ("PAYMENT_FAILED", "CANCELLED"),
    ("PAID", "REFUNDED"),
}
PAYMENT_MOVES = {
    ("PENDING", "COMPLETED"),
    ("PENDING", "FAILED"),
    ("PENDING", "NEEDS_REVIEW"),
    ("COMPLETED", "NEEDS_REVIEW"),
    ("FAILED", "NEEDS_REVIEW"),
    ("COMPLETED", "REFUNDED"),
    ("COMPLETED", "REVERSED"),
    # Finance's review: captured (or a dismissed review of a payment captured before), or dismissed.
    ("NEEDS_REVIEW", "COMPLETED"),
    ("NEEDS_REVIEW", "FAILED"),
}


def _order_in(status: str) -> Order:
    order = OrderFactory()
    Order.objects.filter(pk=order.pk).update(status=status)  # the starting state, however it was reached
    order.refresh_from_db()
    return order


def _payment_in(status: str) -> Payment:
    payment = PaymentFactory()
    Payment.objects.filter(pk=payment.pk).update(status=status)
    payment.refresh_from_db()
    return payment


def test_the_order_table_is_the_documented_one():
    table = {(source, target) for target, sources in Order.TRANSITIONS.items() for source in sources}
    assert table == ORDER_MOVES


def test_the_payment_table_is_the_documented_one():
    table = {(source, target) for target, sources in Payment.TRANSITIONS.items() for source in sources}
    assert table == PAYMENT_MOVES


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), sorted(ORDER_MOVES))
def test_order_transition_makes_an_allowed_move(source, target):
    order = _order_in(source)
    before = order.updated_at

    assert order_transition(order, target) is True

    order.refresh_from_db()
    assert order.status == target
    assert order.updated_at > before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("source", "target"), sorted(set(product(ORDER_STATUSES, ORDER_STATUSES)) - ORDER_MOVES), ids=str
)
def test_order_transition_refuses_any_other_move_and_changes_nothing(source, target):
    order = _order_in(source)
    before = order.updated_at

    assert order_transition(order, target, now=timezone.now() + timedelta(minutes=5)) is False

    assert order.status == source  # the object in hand is untouched too
    order.refresh_from_db()
    assert (order.status, order.updated_at) == (source, before)


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "target"), sorted(PAYMENT_MOVES))
def test_payment_transition_makes_an_allowed_move_with_its_fields(source, target):
    payment = _payment_in(source)
    before = payment.updated_at

    payment_transition(payment, target, now=timezone.now(), channel="TIGO-PESA", notes="moved")

    payment.refresh_from_db()
    assert (payment.status, payment.updated_at > before) == (target, True)
    assert (payment.channel, payment.notes) == ("TIGO-PESA", "moved")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("source", "target"), sorted(set(product(PAYMENT_STATUSES, PAYMENT_STATUSES)) - PAYMENT_MOVES), ids=str
)
def test_payment_transition_refuses_any_other_move_and_changes_nothing(source, target):
    payment = _payment_in(source)
    before = payment.updated_at

    with pytest.raises(PaymentError) as refused:
        payment_transition(payment, target, now=timezone.now(), channel="TIGO-PESA", failure_reason="x")

    assert refused.value.code == "payment_refused"
    assert f"cannot go from {source} to {target}" in refused.value.message
    payment.refresh_from_db()
    assert (payment.status, payment.updated_at) == (source, before)
    assert (payment.channel, payment.failure_reason) == ("", "")


@pytest.mark.django_db
def test_payment_transition_saves_only_the_fields_it_is_given():
    payment = PaymentFactory()
    # Another writer changed a column since this copy was read; the transition must not undo it.
    Payment.objects.filter(pk=payment.pk).update(last_error="timeout from ClickPesa")

    payment_transition(payment, Payment.Status.FAILED, now=timezone.now(), failure_reason="Insufficient balance")

    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payment.failure_reason == "Insufficient balance"
    assert payment.last_error == "timeout from ClickPesa"
