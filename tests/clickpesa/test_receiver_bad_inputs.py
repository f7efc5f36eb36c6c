"""Bad input is answered with the right 4xx (or 200 when it is only ignorable), kept, and moves no money."""

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from clickpesa.checksum import ChecksumResult, sign
from clickpesa.models import WebhookEvent
from notifications.models import Notification
from payments.models import Payment
from revenue.models import LedgerTransaction
from tests.clickpesa.samples import SAMPLE_KEY
from tests.factories import PaymentFactory
from tests.webhooks import encode, payment_body, post_webhook, use_checksum_key


@dataclass(frozen=True)
class Case:
    """``build(payment) -> bytes`` makes the request body; ``stored`` must appear in the kept body."""

    build: Callable[[Payment], bytes]
    status: int
    answer: dict = field(default_factory=dict)
    event_status: str = WebhookEvent.Status.REJECTED
    detail: str = ""
    stored: str = ""
    content_type: str = "application/json"


def _signed(**data_changes: object) -> Callable[[Payment], bytes]:
    """The payment's own PAYMENT RECEIVED, changed, then properly signed."""
    return lambda payment: encode(sign(payment_body(payment, **data_changes), SAMPLE_KEY))


def _raw(body: bytes) -> Callable[[Payment], bytes]:
    return lambda payment: body


def _signed_envelope(envelope: dict) -> Callable[[Payment], bytes]:
    return lambda payment: encode(sign(envelope, SAMPLE_KEY))


CASES = {
    "not JSON": Case(_raw(b"this is not json"), 400, {"error": "body is not valid JSON"}, stored="this is not json"),
    "JSON array": Case(_raw(b"[1, 2, 3]"), 400, {"error": "body must be a JSON object"}, stored="[1, 2, 3]"),
    "empty body": Case(_raw(b""), 400, {"error": "body is not valid JSON"}),
    "not UTF-8": Case(_raw(b'{"event": "\xff"}'), 400, {"error": "body is not valid UTF-8"}, stored="\ufffd"),
    "NUL bytes": Case(_raw(b'{"a":"\x00"}'), 400, {"error": "body is not valid JSON"}, stored='{"a":"\ufffd"}'),
    "missing data": Case(
        _signed_envelope({"event": "PAYMENT RECEIVED"}), 400, {"error": "missing 'data' object"}, stored="PAYMENT"
    ),
    "missing event": Case(_signed_envelope({"data": {}}), 400, {"error": "missing 'event'"}),
    "missing orderReference": Case(
        _signed(orderReference=None), 400, {"error": "missing 'orderReference'"}, stored="collectedAmount"
    ),
    "amount abc": Case(_signed(collectedAmount="abc"), 400, {"error": "invalid collectedAmount 'abc'"}, stored='"abc"'),
    "negative amount": Case(
        _signed(collectedAmount="-11000.00"), 400, {"error": "collectedAmount must be positive"}, stored="-11000"
    ),
    "amount as a float with too many decimals": Case(
        _signed(collectedAmount=11000.005), 400, {"error": "collectedAmount has more than 2 decimal places"}
    ),
    "success without amount": Case(_signed(collectedAmount=None), 400, {"error": "missing 'collectedAmount'"}),
    "success without currency": Case(_signed(collectedCurrency=None), 400, {"error": "missing 'collectedCurrency'"}),
    "10 MB body": Case(
        _raw(b'{"event": "PAYMENT RECEIVED", "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'),
        413,
        {"error": f"declared body of {10 * 1024 * 1024 + 40} bytes is larger than 65536 bytes"},
        stored="",
    ),
    "wrong content type": Case(
        _signed(),
        415,
        {"error": "content type must be application/json, not 'text/plain'"},
        stored="PAYMENT RECEIVED",
        content_type="text/plain",
    ),
    "form content type": Case(
        _raw(b"event=PAYMENT+RECEIVED"),
        415,
        {"error": "content type must be application/json, not 'application/x-www-form-urlencoded'"},
        content_type="application/x-www-form-urlencoded",
    ),
    "unknown event": Case(
        _signed_envelope({"event": "CARD TOKENISED", "data": {"id": "X1"}}),
        200,
        {"status": "ignored"},
        event_status=WebhookEvent.Status.IGNORED,
        detail="no handler for event 'CARD TOKENISED'",
    ),
    "unknown status": Case(
        _signed(status="MAYBE"),
        200,
        {"status": "ignored"},
        event_status=WebhookEvent.Status.IGNORED,
        detail="unknown payment status 'MAYBE'; nothing changed",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_is_answered_kept_and_moves_no_money(client, settings, case):
    use_checksum_key(settings)
    payment = PaymentFactory()

    response = post_webhook(client, raw=case.build(payment), content_type=case.content_type)

    event = WebhookEvent.objects.get()
    assert response.status_code == case.status
    assert response.json() == {**case.answer, "event": event.pk}
    assert event.status == case.event_status
    assert event.detail == (case.detail or case.answer.get("error"))
    assert case.stored in event.body
    assert len(event.body) <= settings.CLICKPESA_WEBHOOK_MAX_BYTES
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert not LedgerTransaction.objects.exists()
    assert not Notification.objects.exists()


@pytest.mark.django_db
def test_a_typed_refusal_keeps_the_verified_checksum_and_reference(client, settings):
    use_checksum_key(settings)
    payment = PaymentFactory()

    post_webhook(client, payment_body(payment, collectedAmount="abc"))

    event = WebhookEvent.objects.get()
    assert event.checksum_result == ChecksumResult.VALID
    assert event.order_reference == payment.reference
    assert json.loads(event.body)["data"]["collectedAmount"] == "abc"


@pytest.mark.django_db
def test_a_body_declared_too_large_is_refused_before_it_is_read(client, settings):
    use_checksum_key(settings)
    settings.CLICKPESA_WEBHOOK_MAX_BYTES = 100
    body = encode(sign(payment_body(PaymentFactory()), SAMPLE_KEY))

    response = post_webhook(client, raw=body)

    assert response.status_code == 413
    event = WebhookEvent.objects.get()
    assert (event.body, event.body_sha256) == ("", "")  # nothing was read
    assert event.detail == f"declared body of {len(body)} bytes is larger than 100 bytes"
