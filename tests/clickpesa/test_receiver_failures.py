"""Processing failures: rolled back, kept on the event, retried with backoff, then DEAD; deadlocks retried.

Faults are injected with real PostgreSQL triggers (an INSERT that raises), never by patching
our own code, so the rollback under test is PostgreSQL's.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from clickpesa.inbox import claim as webhook_event_claim
from clickpesa.inbox import replay as webhook_event_replay
from clickpesa.inbox import retry_sweep as webhook_events_retry_sweep
from clickpesa.models import WebhookEvent
from clickpesa.tasks import webhook_event_retry
from clickpesa.tasks import webhook_events_retry_sweep as sweep_task
from core.errors import BlinnoError
from notifications.models import Notification
from payments.models import Order, Payment
from revenue.models import LedgerEntry, LedgerTransaction, PlatformFee
from revenue.services import creator_balance
from tests.conftest import run_concurrently
from tests.factories import PaymentFactory, UserFactory
from tests.faults import failing_inserts
from tests.webhooks import encode, payment_body, post_webhook, use_checksum_key

NOTIFICATIONS = "notifications_notification"
LEDGER_TRANSACTIONS = "revenue_ledgertransaction"


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


def _crash(client, payment: Payment, table: str = NOTIFICATIONS):
    with failing_inserts(table):
        return post_webhook(client, payment_body(payment))


def _assert_no_money_moved(payment: Payment) -> None:
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert payment.order.status == Order.Status.PENDING
    assert set(payment.order.fees.values_list("status", flat=True)) == {PlatformFee.Status.PENDING}
    assert not LedgerTransaction.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert creator_balance(payment.order.lines.get().creator).available == Decimal("0.00")


def _assert_credited_once(payment: Payment) -> None:
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_CAPTURE).count() == 1
    assert creator_balance(payment.order.lines.get().creator).available == Decimal("9200.00")
    assert Notification.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_crash_after_the_ledger_write_rolls_everything_back_and_keeps_the_failure():
    payment = PaymentFactory()

    response = _crash(Client(), payment)

    event = WebhookEvent.objects.get()
    assert response.status_code == 500
    assert response.json() == {"error": "processing failed; will retry", "event": event.pk}
    assert event.status == WebhookEvent.Status.FAILED
    # The capture was posted in that transaction when the crash came; it is rolled back with the rest.
    assert "insert into notifications_notification refused by the test; ledger transactions: 1" in event.error
    assert ", in _capture\n" in event.traceback
    assert event.attempts == 1
    assert timedelta(seconds=25) < event.next_attempt_at - timezone.now() <= timedelta(seconds=30)
    _assert_no_money_moved(payment)
    assert not Notification.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_retry_after_the_crash_credits_exactly_once():
    payment = PaymentFactory()
    _crash(Client(), payment)

    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        processed = sweep_task.delay().get()
        again = sweep_task.delay().get()

    assert (processed, again) == (1, 0)
    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.attempts == 2
    assert event.next_attempt_at is None
    _assert_credited_once(payment)


@pytest.mark.django_db
def test_the_retry_task_waits_for_the_backoff(client):
    payment = PaymentFactory()
    event_id = _crash(client, payment).json()["event"]

    early = webhook_event_retry.delay(event_id).get()
    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        due = webhook_event_retry.delay(event_id).get()

    assert (early, due) == (False, True)
    _assert_credited_once(payment)


@pytest.mark.django_db
def test_clickpesa_delivering_a_failed_event_again_processes_it(client):
    payment = PaymentFactory()
    first = _crash(client, payment)

    second = post_webhook(client, payment_body(payment))

    assert second.status_code == 200
    assert second.json() == {"status": "processed", "event": first.json()["event"]}
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, event.duplicate_count) == (WebhookEvent.Status.PROCESSED, 2, 1)
    _assert_credited_once(payment)


@pytest.mark.django_db
def test_it_backs_off_gives_up_after_the_last_attempt_and_alerts_support(client, settings):
    settings.CLICKPESA_WEBHOOK_MAX_ATTEMPTS = 3
    support = UserFactory(is_staff=True)
    support.groups.add(Group.objects.get_or_create(name="Support")[0])
    payment = PaymentFactory()
    delays = []

    with failing_inserts(LEDGER_TRANSACTIONS), time_machine.travel(timezone.now(), tick=False) as clock:
        answers = [post_webhook(client, payment_body(payment)).status_code]
        event = WebhookEvent.objects.get()
        for _ in range(2):
            event.refresh_from_db()
            delays.append(event.next_attempt_at - timezone.now())
            clock.shift(event.next_attempt_at - timezone.now())
            answers.append(webhook_events_retry_sweep())

    event.refresh_from_db()
    assert answers == [500, 1, 1]
    assert delays == [timedelta(seconds=30), timedelta(seconds=60)]
    assert event.status == WebhookEvent.Status.DEAD
    assert event.attempts == 3
    assert event.next_attempt_at is None
    assert "insert into revenue_ledgertransaction refused by the test" in event.error
    alert = Notification.objects.get(kind=Notification.Kind.STAFF_ALERT)
    assert alert.recipient == support
    assert f"Webhook event #{event.pk} failed 3 times" in alert.subject
    assert "255712345678" not in alert.body
    _assert_no_money_moved(payment)


@pytest.mark.django_db
def test_a_dead_event_is_not_retried_by_the_sweep(client, settings):
    settings.CLICKPESA_WEBHOOK_MAX_ATTEMPTS = 1
    payment = PaymentFactory()
    _crash(client, payment, LEDGER_TRANSACTIONS)

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        processed = webhook_events_retry_sweep()

    assert processed == 0
    assert WebhookEvent.objects.get().status == WebhookEvent.Status.DEAD
    _assert_no_money_moved(payment)


@pytest.mark.django_db
@pytest.mark.usefixtures("inline_settling")
def test_a_deadlock_is_retried_within_the_request(client):
    payment = PaymentFactory()

    with failing_inserts(NOTIFICATIONS, sqlstate="40P01", times=1) as tries:
        response = post_webhook(client, payment_body(payment))
        assert int(tries) == 3  # the refused insert, then the retry's sale notice and receipt

    assert response.json()["status"] == "processed"
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts, event.error) == (WebhookEvent.Status.PROCESSED, 1, "")
    _assert_credited_once(payment)


@pytest.mark.django_db
@pytest.mark.usefixtures("inline_settling")
def test_a_serialization_failure_that_persists_fails_after_three_tries(client):
    payment = PaymentFactory()

    with failing_inserts(NOTIFICATIONS, sqlstate="40001") as tries:
        response = post_webhook(client, payment_body(payment))
        assert int(tries) == 3  # one refused insert per try

    assert response.status_code == 500
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == (WebhookEvent.Status.FAILED, 1)
    assert "SerializationFailure" in event.traceback
    _assert_no_money_moved(payment)


@pytest.mark.django_db
def test_the_sweep_takes_over_an_event_left_received_by_a_crashed_process():
    payment = PaymentFactory()
    # What a process that died between storing and processing leaves behind.
    event = WebhookEvent.objects.create(
        endpoint=WebhookEvent.Endpoint.PAYMENTS,
        body=encode(payment_body(payment)).decode(),
        event_name="PAYMENT RECEIVED",
        order_reference=payment.reference,
        checksum_result="valid",
        dedupe_key="left-behind",
    )

    soon = webhook_events_retry_sweep()
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        later = webhook_events_retry_sweep()

    assert (soon, later) == (0, 1)
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    _assert_credited_once(payment)


@pytest.mark.django_db
def test_a_claim_is_taken_once(client):
    payment = PaymentFactory()
    event_id = _crash(client, payment).json()["event"]

    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        claims = [webhook_event_claim(event_id), webhook_event_claim(event_id)]

    assert claims == [True, False]


@pytest.mark.django_db(transaction=True)
def test_two_workers_sweeping_at_once_process_an_event_once():
    payment = PaymentFactory()
    _crash(Client(), payment)

    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        results = run_concurrently(lambda i: webhook_events_retry_sweep(), 4)

    assert sorted(results) == [0, 0, 0, 1]
    assert WebhookEvent.objects.get().attempts == 2
    _assert_credited_once(payment)


@pytest.mark.django_db
def test_replay_processes_a_dead_event_once_its_cause_is_fixed(client, settings):
    settings.CLICKPESA_WEBHOOK_MAX_ATTEMPTS = 1
    payment = PaymentFactory()
    event = WebhookEvent.objects.get(pk=_crash(client, payment).json()["event"])
    assert event.status == WebhookEvent.Status.DEAD

    processing = webhook_event_replay(event, by=UserFactory(is_staff=True))

    assert (processing.ran, processing.failed) == (True, False)
    event.refresh_from_db()
    assert event.status == WebhookEvent.Status.PROCESSED
    _assert_credited_once(payment)


@pytest.mark.django_db
def test_replay_of_a_dead_event_that_fails_again_keeps_it_dead(client, settings):
    settings.CLICKPESA_WEBHOOK_MAX_ATTEMPTS = 1
    payment = PaymentFactory()
    event = WebhookEvent.objects.get(pk=_crash(client, payment).json()["event"])

    with failing_inserts(LEDGER_TRANSACTIONS):
        processing = webhook_event_replay(event)

    assert processing.failed is True
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEvent.Status.DEAD, 2)
    _assert_no_money_moved(payment)


@pytest.mark.django_db
def test_replay_refuses_an_event_that_already_had_its_effect(client):
    payment = PaymentFactory()
    event = WebhookEvent.objects.get(pk=post_webhook(client, payment_body(payment)).json()["event"])

    with pytest.raises(BlinnoError, match="only failed, dead or unmatched events are replayed") as refused:
        webhook_event_replay(event)

    assert refused.value.code == "not_replayable"
    assert LedgerTransaction.objects.count() == 1
