"""The shared receiver: what it stores, how it authenticates, how it answers."""

import hashlib
import hmac
import json
import logging

import pytest
from django.test import Client

from clickpesa.checksum import ChecksumResult, sign
from clickpesa.models import WebhookEvent
from clickpesa.payloads import dedupe_key
from clickpesa.receiver import CHECKSUM_HEADERS
from payments.models import Payment
from revenue.models import LedgerTransaction
from tests.clickpesa.samples import SAMPLE_KEY, sample_bytes
from tests.factories import PaymentFactory
from tests.webhooks import encode, payment_body, post_webhook, use_checksum_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


def _assert_refused(response, status: int, reason: str) -> WebhookEvent:
    event = WebhookEvent.objects.get()
    assert response.status_code == status
    assert response.json() == {"error": reason, "event": event.pk}
    assert event.status == WebhookEvent.Status.REJECTED
    assert event.detail == reason
    return event


def _assert_untouched(payment: Payment) -> None:
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert not LedgerTransaction.objects.exists()


def test_it_stores_the_delivery_with_what_identifies_it(client):
    payment = PaymentFactory()
    body = payment_body(payment)

    post_webhook(client, body, headers={"User-Agent": "ClickPesa-Webhooks/1.0", "X-Request-Id": "req-42"})

    event = WebhookEvent.objects.get()
    assert event.endpoint == WebhookEvent.Endpoint.PAYMENTS
    assert event.source == WebhookEvent.Source.WEBHOOK
    assert json.loads(event.body)["data"] == body["data"]
    assert event.headers == {
        "content-type": "application/json",
        "user-agent": "ClickPesa-Webhooks/1.0",
        "x-request-id": "req-42",
    }
    assert event.remote_addr == "127.0.0.1"
    assert (event.event_name, event.order_reference, event.gateway_status) == (
        "PAYMENT RECEIVED",
        payment.reference,
        "SUCCESS",
    )
    assert event.checksum_result == ChecksumResult.VALID
    assert event.dedupe_key == dedupe_key(body)
    assert event.processed_at >= event.received_at
    assert event.attempts == 1


def test_it_never_stores_cookies_or_credentials(client):
    client.cookies["sessionid"] = "secret-session"

    post_webhook(client, payment_body(PaymentFactory()), headers={"Authorization": "Bearer secret-token"})

    headers = WebhookEvent.objects.get().headers
    assert set(headers) == {"content-type"}
    assert "secret" not in json.dumps(headers)


def test_it_accepts_a_sample_exactly_as_published(client):
    """The bytes of a shared sample, with the checksum ClickPesa would send, verify."""
    response = post_webhook(client, raw=sample_bytes("payment_received_non_ascii.json"))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().checksum_result == ChecksumResult.VALID


def test_it_refuses_a_wrong_checksum_with_no_effect(client):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment), key="not-the-merchant-key")

    event = _assert_refused(response, 401, "checksum invalid")
    assert event.checksum_result == ChecksumResult.INVALID
    assert event.order_reference == payment.reference
    _assert_untouched(payment)


def test_it_refuses_a_missing_checksum_with_no_effect(client):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment), sign=False)

    event = _assert_refused(response, 401, "checksum missing")
    assert event.checksum_result == ChecksumResult.MISSING
    _assert_untouched(payment)


def test_it_accepts_a_checksum_computed_over_ascii_escaped_json(client):
    """Some SDKs sign json.dumps' default output (\\u00eb for ë): the same content, so it verifies."""
    payment = PaymentFactory()
    body = payment_body(payment, "payment_received_non_ascii")
    escaped = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert "\\u00eb" in escaped
    body["checksum"] = hmac.new(SAMPLE_KEY.encode(), escaped.encode(), hashlib.sha256).hexdigest()

    response = post_webhook(client, body, sign=False)

    assert response.json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED


def test_it_refuses_a_legacy_checksum_it_cannot_verify(client):
    """The legacy method is undefined over nested data: never accepted, whatever the digest."""
    payment = PaymentFactory()
    body = {**payment_body(payment), "checksumMethod": "legacy", "checksum": "0" * 64}

    response = post_webhook(client, body, sign=False)

    event = _assert_refused(response, 401, "checksum unverifiable")
    assert event.checksum_result == ChecksumResult.UNVERIFIABLE
    _assert_untouched(payment)


@pytest.mark.parametrize("header", CHECKSUM_HEADERS)
def test_it_takes_the_checksum_from_either_header_when_the_body_has_none(client, header):
    payment = PaymentFactory()
    signed = sign(payment_body(payment), SAMPLE_KEY)
    checksum = signed.pop("checksum")

    response = post_webhook(client, signed, sign=False, headers={header: checksum})

    assert response.json()["status"] == "processed"
    assert WebhookEvent.objects.get().headers[header.lower()] == checksum


def test_a_header_repeating_the_body_checksum_is_accepted_and_both_are_kept(client):
    payment = PaymentFactory()
    signed = sign(payment_body(payment), SAMPLE_KEY)

    response = post_webhook(
        client, signed, sign=False, headers={name: signed["checksum"].upper() for name in CHECKSUM_HEADERS}
    )

    assert response.json()["status"] == "processed"
    assert set(WebhookEvent.objects.get().headers) >= {"x-clickpesa-checksum", "x-clickpesa-signature"}


def test_a_header_that_disagrees_with_the_body_is_refused_even_when_the_header_is_right(client):
    payment = PaymentFactory()
    body = payment_body(payment)
    good = sign(body, SAMPLE_KEY)["checksum"]

    response = post_webhook(client, body, key="wrong-key", headers={CHECKSUM_HEADERS[0]: good})

    _assert_refused(response, 401, "checksum headers disagree with each other or with the body")
    _assert_untouched(payment)


def test_two_headers_that_disagree_are_refused(client):
    payment = PaymentFactory()
    signed = sign(payment_body(payment), SAMPLE_KEY)
    checksum = signed.pop("checksum")

    response = post_webhook(
        client, signed, sign=False, headers={CHECKSUM_HEADERS[0]: checksum, CHECKSUM_HEADERS[1]: "0" * 64}
    )

    _assert_refused(response, 401, "checksum headers disagree with each other or with the body")
    _assert_untouched(payment)


def test_without_a_key_it_refuses_unsigned_webhooks_when_debug_is_off(client, settings):
    settings.CLICKPESA_CHECKSUM_KEY = ""
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment), sign=False)

    event = _assert_refused(response, 401, "checksum key not configured; unsigned webhooks are refused")
    assert event.checksum_result == ChecksumResult.NOT_CONFIGURED
    _assert_untouched(payment)


def test_without_a_key_it_accepts_webhooks_from_this_machine_in_debug(client, settings):
    settings.CLICKPESA_CHECKSUM_KEY = ""
    settings.DEBUG = True
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment), sign=False)

    assert response.json()["status"] == "processed"
    assert WebhookEvent.objects.get().checksum_result == ChecksumResult.NOT_CONFIGURED


def test_without_a_key_it_refuses_webhooks_from_another_machine_even_in_debug(client, settings):
    settings.CLICKPESA_CHECKSUM_KEY = ""
    settings.DEBUG = True
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment), sign=False, remote_addr="203.0.113.9")

    _assert_refused(response, 401, "checksum key not configured; unsigned webhooks are refused")
    _assert_untouched(payment)


def test_without_a_key_it_accepts_webhooks_when_explicitly_allowed(client, settings):
    settings.CLICKPESA_CHECKSUM_KEY = ""
    settings.CLICKPESA_ALLOW_UNSIGNED_WEBHOOKS = True
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment), sign=False)

    assert response.json()["status"] == "processed"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED


def test_a_refused_delivery_does_not_block_the_genuine_one(client):
    """A forged copy is kept as REJECTED; the real delivery of the same content still counts."""
    payment = PaymentFactory()
    body = payment_body(payment)
    post_webhook(client, body, key="forger")

    response = post_webhook(client, body)

    assert response.json()["status"] == "processed"
    assert sorted(WebhookEvent.objects.values_list("status", flat=True)) == [
        WebhookEvent.Status.PROCESSED,
        WebhookEvent.Status.REJECTED,
    ]


def test_it_answers_405_to_anything_but_post(client):
    response = client.get("/api/payments/webhook")

    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert response.json() == {"error": "method not allowed; POST a webhook"}
    assert not WebhookEvent.objects.exists()


def test_it_needs_no_csrf_token():
    response = post_webhook(Client(enforce_csrf_checks=True), payment_body(PaymentFactory()))

    assert response.status_code == 200


@pytest.mark.usefixtures("inline_settling")
def test_it_logs_one_line_per_webhook_without_personal_data(client, caplog):
    payment = PaymentFactory()
    caplog.set_level(logging.INFO, logger="clickpesa.metrics")

    post_webhook(client, payment_body(payment))

    lines = [r.getMessage() for r in caplog.records if r.name == "clickpesa.metrics"]
    event = WebhookEvent.objects.get()
    assert len(lines) == 1
    assert lines[0].startswith(
        f'webhook event={event.pk} endpoint=payments name="PAYMENT RECEIVED" '
        f'reference="{payment.reference}" outcome="processed" http=200 duration_ms='
    )
    assert "255712345678" not in lines[0]
    assert "asha@example.com" not in lines[0]


def test_it_answers_json_even_for_a_body_it_cannot_read(client):
    response = post_webhook(client, raw=encode("just a string"))

    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "body must be a JSON object"
