"""Acknowledge on receipt, settle in batches: clickpesa.inbox.settle_batch and the queued receiver.

The receiver runs queued with the broker down (nothing listens): the nudge is lost, the events
wait RECEIVED, and the test settles them with the real settler, as the beat sweep would.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from clickpesa import inbox
from clickpesa.models import WebhookEvent
from clickpesa.tasks import webhook_settle
from notifications.models import Notification
from payments.models import Order, Payment
from revenue.ledger import ledger_audit
from revenue.models import LedgerTransaction
from revenue.services import creator_balance
from tests.conftest import run_concurrently
from tests.factories import PaymentFactory
from tests.faults import failing_writes
from tests.webhooks import broker_down, payment_body, post_webhook, use_checksum_key

Status = WebhookEvent.Status


@pytest.fixture(autouse=True)
def queued(settings):
    use_checksum_key(settings)
    settings.CLICKPESA_WEBHOOK_SETTLE = "queued"
    with broker_down():
        yield


def _deliver(payments: list[Payment]) -> list[int]:
    client = Client()
    answers = [post_webhook(client, payment_body(payment)) for payment in payments]
    assert [a.json()["status"] for a in answers] == ["accepted"] * len(payments)
    return [a.json()["event"] for a in answers]


def _captures() -> int:
    return LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_CAPTURE).count()


@pytest.mark.django_db
def test_it_acknowledges_a_delivery_once_stored_and_settles_it_later():
    payment = PaymentFactory()

    [event_id] = _deliver([payment])

    assert WebhookEvent.objects.get(pk=event_id).status == Status.RECEIVED
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert inbox.backlog().count == 1

    batch = inbox.settle_batch()

    assert (batch.settled, batch.failed, batch.claimed) == (1, 0, 1)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert WebhookEvent.objects.get(pk=event_id).status == Status.PROCESSED
    assert inbox.backlog() == inbox.Backlog(0, None)


@pytest.mark.django_db
def test_a_repeat_of_a_settled_delivery_still_answers_duplicate():
    payment = PaymentFactory()
    _deliver([payment])
    inbox.settle_batch()

    response = post_webhook(Client(), payment_body(payment))

    assert response.json()["status"] == "duplicate"
    assert _captures() == 1


@pytest.mark.django_db
def test_a_batch_captures_many_payments_in_a_fixed_number_of_statements():
    first, few, many = PaymentFactory(), PaymentFactory.create_batch(2), PaymentFactory.create_batch(8)
    _deliver([first])
    inbox.settle_batch()  # the platform's ledger accounts are created by the first capture

    counts = []
    for payments in (few, many):
        _deliver(payments)
        with CaptureQueriesContext(connection) as queries:
            batch = inbox.settle_batch()
        assert (batch.settled, batch.failed) == (len(payments), 0)
        counts.append(len(queries))

    assert counts[0] == counts[1], "a batch's statements grow with its events"
    assert _captures() == 11
    assert set(Payment.objects.values_list("status", flat=True)) == {Payment.Status.COMPLETED}
    assert set(Order.objects.values_list("status", flat=True)) == {Order.Status.PAID}
    assert Notification.objects.count() == 22  # a sale notice and a receipt each
    assert ledger_audit(record=False).ok


@pytest.mark.django_db
def test_a_batch_with_a_failing_event_settles_the_others():
    payments = PaymentFactory.create_batch(4)
    bad = payments[1]
    events = _deliver(payments)

    with failing_writes("payments_payment", operation="UPDATE", when=f"NEW.reference = '{bad.reference}'"):
        batch = inbox.settle_batch()

    assert (batch.settled, batch.failed) == (3, 1)
    assert [f.event.pk for f in batch.failures] == [events[1]]
    statuses = dict(WebhookEvent.objects.values_list("pk", "status"))
    assert [statuses[pk] for pk in events] == [Status.PROCESSED, Status.FAILED, Status.PROCESSED, Status.PROCESSED]
    failed = WebhookEvent.objects.get(pk=events[1])
    assert failed.attempts == 1 and failed.next_attempt_at is not None
    assert "refused by the test" in failed.error
    bad.refresh_from_db()
    assert bad.status == Payment.Status.PENDING
    assert _captures() == 3


@pytest.mark.django_db
def test_a_second_report_about_one_payment_waits_for_the_next_batch():
    payment = PaymentFactory()
    success = post_webhook(Client(), payment_body(payment)).json()["event"]
    failure = post_webhook(Client(), payment_body(payment, "payment_failed")).json()["event"]

    first = inbox.settle_batch()
    second = inbox.settle_batch()

    assert (first.claimed, first.settled, second.settled) == (2, 1, 1)
    payment.refresh_from_db()
    # In arrival order: captured, then the late failure parks it for finance.
    assert payment.status == Payment.Status.NEEDS_REVIEW
    assert WebhookEvent.objects.get(pk=success).status == Status.PROCESSED
    assert WebhookEvent.objects.get(pk=failure).status == Status.PROCESSED
    assert _captures() == 1


@pytest.mark.django_db
def test_an_unusual_report_goes_through_the_per_event_path():
    payment = PaymentFactory()
    event_id = post_webhook(Client(), payment_body(payment, amount=payment.amount + 1)).json()["event"]

    batch = inbox.settle_batch()

    assert (batch.settled, batch.failed) == (1, 0)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW
    assert "Amount differs" in payment.notes
    assert WebhookEvent.objects.get(pk=event_id).status == Status.PROCESSED
    assert _captures() == 0


@pytest.mark.django_db
def test_a_redelivery_of_a_failed_event_is_queued_again():
    payment = PaymentFactory()
    with failing_writes("payments_payment", operation="UPDATE"):
        [event_id] = _deliver([payment])
        inbox.settle_batch()
    assert WebhookEvent.objects.get(pk=event_id).status == Status.FAILED

    again = post_webhook(Client(), payment_body(payment))
    assert again.json() == {"status": "accepted", "event": event_id}
    assert webhook_settle.apply().get() == 1

    event = WebhookEvent.objects.get(pk=event_id)
    assert (event.status, event.attempts) == (Status.PROCESSED, 2)
    assert _captures() == 1


@pytest.mark.django_db(transaction=True)
def test_two_settlers_never_settle_one_event_twice():
    payments = PaymentFactory.create_batch(30)
    _deliver(payments)

    def settle(_: int) -> int:
        settled = 0
        while batch := inbox.settle_batch(limit=5):
            settled += batch.settled
        return settled

    settled = run_concurrently(settle, 2)

    assert sum(settled) == 30, settled
    assert _captures() == 30
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}
    assert set(WebhookEvent.objects.values_list("attempts", flat=True)) == {1}
    creators = {fee.creator for payment in payments for fee in payment.order.fees.all()}
    assert all(creator_balance(c).available == Decimal("9200.00") for c in creators)
    assert Notification.objects.count() == 60
    assert ledger_audit(record=False).ok
