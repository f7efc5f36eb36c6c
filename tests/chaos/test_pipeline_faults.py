"""An exception at each step of the webhook pipeline in turn: no partial effect, then retried to completion.

The steps of a PAYMENT RECEIVED, in the order the receiver runs them: the inbox row is stored
(and committed); one transaction locks the event and the payment, updates payment, order and
fees, posts the ledger transaction, writes the notifications, marks the event PROCESSED, and
commits. Each fault is a PostgreSQL object (a trigger that raises, or a table gone missing),
so the rollback under test is the database's. Every case ends with the same proof: the
delivery answered 500 and is kept FAILED with the error; nothing else changed; once the fault
is gone the retry sweep processes it exactly once, and ClickPesa delivering it again is only a
duplicate.
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from clickpesa.inbox import retry_sweep as webhook_events_retry_sweep
from clickpesa.models import WebhookEvent
from notifications.models import Notification
from payments.models import Order, Payment
from revenue.models import LedgerEntry, LedgerTransaction, PlatformFee
from revenue.services import creator_balance
from tests.factories import PaymentFactory
from tests.faults import failing_commit, failing_inserts, failing_writes, unavailable_table
from tests.webhooks import payment_body, post_webhook, use_checksum_key

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STEPS: dict[str, tuple[Callable[[], AbstractContextManager], str]] = {
    # The first statement after the inbox row reads the payment: its table is gone.
    "after the inbox row": (lambda: unavailable_table("payments_payment"), 'relation "payments_payment"'),
    # The payment row is locked; its first update raises.
    "after the payment lock": (
        lambda: failing_writes("payments_payment", operation="UPDATE"),
        "update of payments_payment refused by the test; ledger transactions: 0",
    ),
    # The capture is posted (the failing transaction sees it); the next insert, a notification, raises.
    "after the ledger write": (
        lambda: failing_inserts("notifications_notification"),
        "insert into notifications_notification refused by the test; ledger transactions: 1",
    ),
    # Notifications are written; marking the event PROCESSED raises.
    "after the notification insert": (
        lambda: failing_writes("clickpesa_webhookevent", operation="UPDATE", when="NEW.status = 'PROCESSED'"),
        "update of clickpesa_webhookevent refused by the test; ledger transactions: 1",
    ),
    # Every statement succeeded; COMMIT raises (a deferred constraint trigger).
    "at commit": (
        lambda: failing_commit("notifications_notification"),
        "insert into notifications_notification refused by the test; ledger transactions: 1",
    ),
}


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


def _assert_nothing_but_the_failure_was_kept(payment: Payment, event: WebhookEvent, error: str) -> None:
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEvent.Status.FAILED, 1)
    assert error in event.error
    assert event.next_attempt_at is not None
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert payment.order.status == Order.Status.PENDING
    assert set(payment.order.fees.values_list("status", flat=True)) == {PlatformFee.Status.PENDING}
    assert not LedgerTransaction.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert creator_balance(payment.order.lines.get().creator).available == Decimal("0.00")
    assert not Notification.objects.exists()


def _assert_applied_once(payment: Payment, event: WebhookEvent) -> None:
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEvent.Status.PROCESSED, 2)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert payment.order.status == Order.Status.PAID
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_CAPTURE).count() == 1
    assert creator_balance(payment.order.lines.get().creator).available == Decimal("9200.00")
    assert sorted(Notification.objects.values_list("kind", flat=True)) == [
        Notification.Kind.RECEIPT,
        Notification.Kind.SALE,
    ]


@pytest.mark.parametrize("step", list(STEPS))
def test_a_fault_leaves_no_partial_effect_and_the_retry_completes_the_event_once(step):
    fault, error = STEPS[step]
    payment = PaymentFactory()
    client = Client()

    with fault():
        response = post_webhook(client, payment_body(payment))

    assert response.status_code == 500
    event = WebhookEvent.objects.get(pk=response.json()["event"])
    _assert_nothing_but_the_failure_was_kept(payment, event, error)

    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        retried, again = webhook_events_retry_sweep(), webhook_events_retry_sweep()
    redelivered = post_webhook(client, payment_body(payment))

    assert (retried, again) == (1, 0)
    assert redelivered.json() == {"status": "duplicate", "event": event.pk}
    _assert_applied_once(payment, event)
