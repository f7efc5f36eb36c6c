"""The webhook inbox for support: filters, the body as it came, and replay."""

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from clickpesa.models import WebhookEvent
from payments.models import Payment
from tests.factories import PaymentFactory
from tests.staff import messages_of
from tests.webhooks import post_webhook, sample_body, use_checksum_key

EVENTS = reverse("admin:clickpesa_webhookevent_changelist")


@pytest.fixture
def unmatched(client, settings) -> WebhookEvent:
    """A genuine PAYMENT RECEIVED for a reference we did not know when it arrived."""
    use_checksum_key(settings)
    post_webhook(client, sample_body("payment_received", reference="BLNLATE0000001", amount=Decimal("11000.00")))
    return WebhookEvent.objects.get(order_reference="BLNLATE0000001")


@pytest.mark.django_db
def test_the_body_is_shown_pretty_printed_and_escaped(support, unmatched):
    page = support.get(reverse("admin:clickpesa_webhookevent_change", args=[unmatched.pk])).content.decode()
    assert "\n  &quot;event&quot;: &quot;PAYMENT RECEIVED&quot;,\n" in page
    assert "&quot;orderReference&quot;: &quot;BLNLATE0000001&quot;" in page


@pytest.mark.django_db
def test_a_body_that_is_not_json_is_shown_as_escaped_text(support, client):
    post_webhook(client, raw=b"<script>alert('x')</script>")
    event = WebhookEvent.objects.get(status=WebhookEvent.Status.REJECTED)
    page = support.get(reverse("admin:clickpesa_webhookevent_change", args=[event.pk])).content.decode()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script>alert(" not in page


@pytest.mark.django_db
def test_the_body_cannot_be_edited(support, unmatched):
    url = reverse("admin:clickpesa_webhookevent_change", args=[unmatched.pk])
    assert support.post(url, {"body": "{}"}).status_code == 403
    assert support.get(url).content.decode().count("<textarea") == 0


@pytest.mark.django_db
def test_support_filters_events_by_endpoint_name_status_checksum_and_date(support, unmatched, client):
    post_webhook(client, raw=b"not json")
    response = support.get(
        EVENTS,
        {
            "endpoint__exact": "payments",
            "event_name": "PAYMENT RECEIVED",
            "status__exact": "UNMATCHED",
            "checksum_result__exact": unmatched.checksum_result,
            "received_at__date__gte": unmatched.received_at.date().isoformat(),
        },
    )
    assert [e.pk for e in response.context["cl"].result_list] == [unmatched.pk]


@pytest.mark.django_db
def test_support_replays_an_unmatched_event_once_the_payment_exists(support, support_user, unmatched):
    payment = PaymentFactory()
    assert payment.amount == Decimal("11000.00")
    # The payment row turns up under the event's reference only after the event came in.
    Payment.objects.filter(pk=payment.pk).update(reference=unmatched.order_reference)
    response = support.action(EVENTS, "replay_events", [unmatched])
    assert messages_of(response) == ["1 event replayed", "Now: 1 PROCESSED"]
    unmatched.refresh_from_db()
    payment.refresh_from_db()
    assert unmatched.status == WebhookEvent.Status.PROCESSED
    assert payment.status == Payment.Status.COMPLETED
    log = LogEntry.objects.get(object_id=str(unmatched.pk), content_type__model="webhookevent")
    assert (log.user, log.change_message) == (support_user, "Replayed: now PROCESSED")


@pytest.mark.django_db
def test_replaying_an_unmatched_event_that_still_matches_nothing_keeps_it_unmatched(support, unmatched):
    response = support.action(EVENTS, "replay_events", [unmatched])
    assert messages_of(response) == ["1 event replayed", "Now: 1 UNMATCHED"]


@pytest.mark.django_db
def test_a_processed_event_is_not_replayed(support, client, settings):
    use_checksum_key(settings)
    payment = PaymentFactory()
    post_webhook(client, sample_body("payment_received", reference=payment.reference, amount=payment.amount))
    event = WebhookEvent.objects.get(order_reference=payment.reference)
    response = support.action(EVENTS, "replay_events", [event])
    assert messages_of(response) == ["0 events replayed, 1 skipped: not failed, dead or unmatched"]
    event.refresh_from_db()
    assert event.attempts == 1
