"""payment_event_apply through the real endpoint: what each status word does, and what it leaves alone."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from clickpesa.models import WebhookEvent
from notifications.models import Notification
from payments.models import Order, Payment
from payments.services import payment_start
from revenue.models import LedgerTransaction, PlatformFee
from revenue.services import creator_balance
from tests.factories import PaymentFactory, UserFactory
from tests.webhooks import payment_body, post_webhook, use_checksum_key


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


@pytest.fixture
def finance_staff(db):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Finance"))
    return user


def _payment_reads(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT "payments_payment"')]


@pytest.mark.django_db
@pytest.mark.parametrize("word", ["SETTLED", "completed", "Paid", " success "])
def test_a_success_word_captures_a_pending_payment(client, word):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment, status=word))

    assert response.json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert payment.completed_at is not None
    assert LedgerTransaction.objects.get().kind == LedgerTransaction.Kind.PAYMENT_CAPTURE


@pytest.mark.django_db
@pytest.mark.parametrize("word", ["CANCELLED", "rejected", "failed"])
def test_a_failure_word_in_a_payment_received_event_fails_the_payment(client, word):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment, status=word, message="Declined by the buyer"))

    assert response.json()["status"] == "processed"
    payment.refresh_from_db()
    assert (payment.status, payment.failure_reason) == (Payment.Status.FAILED, "Declined by the buyer")
    assert payment.failed_at is not None
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db
def test_a_payment_failed_event_fails_the_payment_whatever_status_it_carries(client):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment, "payment_failed", status="SUCCESS"))

    assert response.json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db
def test_a_failure_without_a_message_is_kept_as_no_reason_given(client):
    payment = PaymentFactory()

    post_webhook(client, payment_body(payment, "payment_failed", message=None))

    payment.refresh_from_db()
    assert (payment.status, payment.failure_reason) == (Payment.Status.FAILED, "no reason given")


@pytest.mark.django_db
def test_a_second_failure_report_changes_nothing(client):
    payment = PaymentFactory()
    post_webhook(client, payment_body(payment, "payment_failed"))
    failed_at = Payment.objects.get(pk=payment.pk).failed_at

    response = post_webhook(client, payment_body(payment, "payment_failed", message="Timeout"))

    assert response.json()["status"] == "ignored"
    assert WebhookEvent.objects.get(pk=response.json()["event"]).detail == "payment already failed"
    payment.refresh_from_db()
    assert (payment.failure_reason, payment.failed_at) == ("Insufficient balance", failed_at)
    assert Notification.objects.filter(kind=Notification.Kind.PAYMENT_FAILED).count() == 1


@pytest.mark.django_db
def test_a_failure_keeps_the_clickpesa_id_the_push_recorded(client):
    payment = PaymentFactory()
    Payment.objects.filter(pk=payment.pk).update(gateway_id="PUSH0001", channel="TIGO-PESA")  # the push's answer

    post_webhook(client, payment_body(payment, "payment_failed"))

    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert (payment.gateway_id, payment.channel) == ("PUSH0001", "TIGO-PESA")


@pytest.mark.django_db
@pytest.mark.parametrize("event", ["payment_received", "payment_failed"])
def test_any_report_about_a_payment_under_review_changes_nothing(client, finance_staff, event):
    payment = PaymentFactory()
    post_webhook(client, payment_body(payment, amount="1.00"))  # collected amount differs: review
    payment.refresh_from_db()
    notes = payment.notes
    assert payment.status == Payment.Status.NEEDS_REVIEW

    response = post_webhook(client, payment_body(payment, event))

    assert response.json()["status"] == "ignored"
    assert WebhookEvent.objects.get(pk=response.json()["event"]).detail == (
        "payment already needs review; nothing changed"
    )
    payment.refresh_from_db()
    assert (payment.status, payment.notes) == (Payment.Status.NEEDS_REVIEW, notes)
    assert payment.order.status == Order.Status.PENDING
    assert not LedgerTransaction.objects.exists()
    assert Notification.objects.filter(kind=Notification.Kind.FINANCE_ALERT).count() == 1


@pytest.mark.django_db
def test_a_second_paid_attempt_of_one_order_credits_nothing_and_tells_finance(client, finance_staff):
    first = PaymentFactory()
    second = payment_start(first.order)
    creator = first.order.lines.get().creator
    post_webhook(client, payment_body(first))

    response = post_webhook(client, payment_body(second))

    assert response.json()["status"] == "processed"
    second.refresh_from_db()
    assert second.status == Payment.Status.NEEDS_REVIEW
    assert f"Order #{first.order_id} was already paid by another attempt" in second.notes
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_CAPTURE).count() == 1
    assert LedgerTransaction.objects.get().payment_id == first.pk
    assert creator_balance(creator).available == PlatformFee.objects.get(creator=creator).creator_amount
    alert = Notification.objects.get(kind=Notification.Kind.FINANCE_ALERT)
    assert (alert.recipient, second.reference in alert.subject) == (finance_staff, True)


@pytest.mark.django_db
@pytest.mark.parametrize("word", ["REFUNDED", "REVERSED"])
def test_money_given_back_before_we_captured_it_moves_nothing_and_asks_finance(client, word):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment, status=word))

    assert response.json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW
    assert "never captured" in payment.notes
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("word", ["CHARGEBACK", ""])
def test_a_word_that_means_nothing_for_a_payment_is_ignored_with_the_word_kept(client, word):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment, status=word))

    assert response.json()["status"] == "ignored"
    assert WebhookEvent.objects.get().detail == f"unknown payment status {word!r}; nothing changed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert payment.order.status == Order.Status.PENDING
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_clickpesa_ids_longer_than_their_columns_are_cut_to_fit(client):
    payment = PaymentFactory()

    post_webhook(client, payment_body(payment, id="G" * 80, paymentReference="R" * 80, channel="C" * 50))

    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert (payment.gateway_id, payment.gateway_reference, payment.channel) == ("G" * 64, "R" * 64, "C" * 40)


@pytest.mark.django_db
@pytest.mark.parametrize("word", ["PROCESSING", "SUCCESS", "FAILED"])
@pytest.mark.usefixtures("inline_settling")
def test_an_event_reads_its_payment_once_locked_with_its_order(client, word):
    payment = PaymentFactory()

    with CaptureQueriesContext(connection) as queries:
        response = post_webhook(client, payment_body(payment, status=word))

    assert response.status_code == 200
    [read] = _payment_reads(queries)
    assert f'"payments_payment"."reference" = \'{payment.reference}\'' in read
    assert 'FOR UPDATE OF "payments_payment", "payments_order"' in read


@pytest.mark.django_db
@pytest.mark.usefixtures("inline_settling")
def test_an_in_progress_report_costs_a_fixed_number_of_queries(client, django_assert_num_queries):
    payment = PaymentFactory()

    # Store the event, lock it, read the payment with its order, record the outcome (and a savepoint pair).
    with django_assert_num_queries(6):
        response = post_webhook(client, payment_body(payment, status="PROCESSING"))

    assert response.json()["status"] == "ignored"
