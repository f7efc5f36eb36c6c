"""Events for the storefront: written with the change, POSTed signed (Standard Webhooks), retried, replayed.

The storefront is a local HTTP server thread (tests.receiver); our code runs unpatched.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from monitoring.alerts import dead_storefront_events_check
from notifications.models import Notification, StorefrontDelivery, StorefrontEvent
from notifications.outbound import signed_headers, storefront_event_deliver, storefront_events_sweep
from notifications.storefront import storefront_event
from payments.services import order_cancel, payment_mark_failed, payment_mark_received
from revenue.models import Payout
from revenue.services import payout_apply_gateway_status
from tests.factories import CreatorFactory, PaymentFactory, PayoutFactory, earn
from tests.receiver import Receiver
from tests.staff import messages_of

SECRET = "whsec_" + base64.b64encode(b"a storefront secret of 32 bytes!").decode()
Status = StorefrontEvent.Status


@pytest.fixture
def storefront(settings):
    receiver = Receiver()
    settings.STOREFRONT_WEBHOOK_URL = receiver.url
    settings.STOREFRONT_WEBHOOK_SECRET = SECRET
    settings.STOREFRONT_WEBHOOK_MAX_ATTEMPTS = 3
    yield receiver
    receiver.stop()


def test_the_signature_is_the_standard_webhooks_one(settings):
    """The specification's test vector, signed by our header writer."""
    settings.STOREFRONT_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    headers = signed_headers(
        "msg_p5jXN8AQM9LWM0D4loKWxJek", '{"test": 2432232314}', at=datetime.fromtimestamp(1614265330, UTC)
    )
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert headers["webhook-timestamp"] == "1614265330"


@pytest.mark.django_db(transaction=True)
def test_a_captured_payment_tells_the_storefront_order_paid_signed(storefront):
    creator = CreatorFactory()
    payment = earn(creator, Decimal("10000.00"))
    [event] = storefront.verified(SECRET)
    assert event["type"] == "order.paid"
    assert event["data"]["order"] | {"buyer": None} == {
        "id": payment.order_id,
        "status": "paid",
        "buyer": None,
        "currency": "TZS",
        "total": "11000.00",
    }
    assert event["data"]["payment"]["reference"] == payment.reference
    row = StorefrontEvent.objects.get()
    assert (row.status, row.attempts) == (Status.DELIVERED, 1)
    assert storefront.received[0][0]["webhook-id"] == row.message_id
    assert StorefrontDelivery.objects.get().status_code == 204


@pytest.mark.django_db(transaction=True)
def test_an_event_exists_only_if_its_change_committed(storefront):
    with pytest.raises(RuntimeError), transaction.atomic():
        storefront_event(StorefrontEvent.Type.ORDER_PAID, {"order": {"id": 1}}, dedupe_key="k")
        raise RuntimeError("the change rolled back")
    assert not StorefrontEvent.objects.exists()
    assert storefront.received == []


@pytest.mark.django_db
def test_no_url_no_event(settings):
    settings.STOREFRONT_WEBHOOK_URL = ""
    earn(CreatorFactory())
    assert not StorefrontEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_one_event_per_key(storefront):
    storefront_event(StorefrontEvent.Type.ORDER_PAID, {}, dedupe_key="once")
    assert storefront_event(StorefrontEvent.Type.ORDER_PAID, {}, dedupe_key="once") is None
    assert StorefrontEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_payout_moves_tell_the_storefront(storefront):
    payout = PayoutFactory()  # PENDING, its submission claimed
    payout_apply_gateway_status(payout, "PROCESSING", source="webhook")
    payout_apply_gateway_status(payout, "SUCCESS", source="webhook", amount=payout.amount)
    events = storefront.verified(SECRET)
    assert [e["type"] for e in events] == ["order.paid", "payout.processing", "payout.paid"]
    assert events[-1]["data"]["payout"]["reference"] == payout.reference
    assert events[-1]["data"]["payout"]["status"] == "paid"


@pytest.mark.django_db(transaction=True)
def test_a_returned_payout_tells_the_storefront_why(storefront):
    payout = PayoutFactory()
    payout_apply_gateway_status(payout, "REVERSED", source="webhook", reason="Invalid account")
    event = storefront.verified(SECRET)[-1]
    assert (event["type"], event["data"]["reason"]) == ("payout.returned", "Invalid account")
    assert Payout.objects.get().status == Payout.Status.REVERSED


@pytest.mark.django_db
def test_a_refused_delivery_is_retried_with_backoff_then_dead_and_alerted(
    storefront, support_user, django_capture_on_commit_callbacks
):
    storefront.answer(500, 503, 500)
    with django_capture_on_commit_callbacks(execute=True):
        storefront_event(StorefrontEvent.Type.ORDER_PAID, {"order": {"id": 7}}, dedupe_key="retry")
    event = StorefrontEvent.objects.get()
    assert (event.status, event.attempts) == (Status.PENDING, 1)
    assert event.next_attempt_at > timezone.now() + timedelta(seconds=20)
    assert "HTTP 500" in event.last_error
    for minutes in (1, 3):
        with time_machine.travel(timezone.now() + timedelta(minutes=minutes)):
            for event_id in storefront_events_sweep():
                try:
                    storefront_event_deliver(event_id)
                except Exception as exc:
                    assert type(exc).__name__ == "StorefrontRetry"
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.DEAD, 3)
    assert list(event.deliveries.order_by("id").values_list("status_code", flat=True)) == [500, 503, 500]
    assert len({headers["webhook-id"] for headers, _ in storefront.received}) == 1
    assert dead_storefront_events_check(now=timezone.now()) == 1
    alert = Notification.objects.get(kind=Notification.Kind.STAFF_ALERT, recipient=support_user)
    assert event.message_id in alert.subject


@pytest.mark.django_db(transaction=True)
def test_no_answer_is_a_failed_attempt(settings):
    settings.STOREFRONT_WEBHOOK_URL = "http://127.0.0.1:9/nothing-listens"
    settings.STOREFRONT_WEBHOOK_SECRET = SECRET
    storefront_event(StorefrontEvent.Type.ORDER_PAID, {}, dedupe_key="down")
    event = StorefrontEvent.objects.get()
    assert event.status == Status.PENDING
    assert "ConnectionError" in event.deliveries.get().error


@pytest.mark.django_db
def test_support_replays_a_dead_event_from_the_admin(storefront, support, django_capture_on_commit_callbacks):
    storefront.answer(500)
    with django_capture_on_commit_callbacks(execute=True):
        storefront_event(StorefrontEvent.Type.ORDER_PAID, {"order": {"id": 8}}, dedupe_key="replay")
    StorefrontEvent.objects.update(status=Status.DEAD, attempts=3)
    event = StorefrontEvent.objects.get()
    page = support.get(reverse("admin:notifications_storefrontevent_change", args=[event.pk]))
    assert page.status_code == 200 and b"HTTP 500" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = support.action(reverse("admin:notifications_storefrontevent_changelist"), "replay", [event])
    assert messages_of(response) == ["1 event queued for sending again"]
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.DELIVERED, 1)
    assert json.loads(storefront.received[-1][1])["data"]["order"]["id"] == 8


def test_a_url_without_a_whsec_secret_fails_the_system_check(settings):
    settings.STOREFRONT_WEBHOOK_URL = "https://shop.example/hooks"
    settings.STOREFRONT_WEBHOOK_SECRET = "plain-secret"
    with pytest.raises(Exception, match=r"notifications\.E002"):
        call_command("check")


def test_verifying_an_event_fails_with_another_secret():
    body = '{"type":"order.paid"}'
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(timezone.now().timestamp()))}
    headers["webhook-signature"] = Webhook(SECRET).sign("msg_1", timezone.now(), body)
    Webhook(SECRET).verify(body, headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook("whsec_" + base64.b64encode(b"another secret of 32 bytes!!!!!").decode()).verify(body, headers)


@pytest.mark.django_db(transaction=True)
def test_a_failed_payment_tells_the_storefront_why(storefront):
    payment = PaymentFactory()
    payment_mark_failed(payment, reason="Insufficient balance")
    [event] = storefront.verified(SECRET)
    assert event["type"] == "order.payment_failed"
    assert (event["data"]["order"]["status"], event["data"]["reason"]) == ("payment_failed", "Insufficient balance")


@pytest.mark.django_db(transaction=True)
def test_a_payment_held_for_review_tells_the_storefront(storefront):
    payment = PaymentFactory()
    order_cancel(payment.order)
    payment_mark_received(payment, amount=payment.amount, currency=payment.currency)
    [event] = storefront.verified(SECRET)
    assert event["type"] == "order.held_for_review"
    assert event["data"]["payment"]["status"] == "needs_review"
    assert event["data"]["reason"] == "Payment for a cancelled order"
