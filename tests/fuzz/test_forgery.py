"""Targeted attacks on the checksum: forged, signed with another key, tampered, replayed, downgraded to legacy."""

import hashlib
import hmac
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from clickpesa.checksum import ChecksumMethod, compute, sign
from clickpesa.models import WebhookEvent
from payments.models import Payment
from revenue.models import LedgerTransaction
from revenue.services import creator_balance
from tests.clickpesa.samples import SAMPLE_KEY
from tests.factories import PaymentFactory
from tests.fuzz.conftest import send
from tests.webhooks import encode, payment_body, post_webhook, use_checksum_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


def _assert_refused_and_kept(response, reason: str, checksum_result: str) -> None:
    event = WebhookEvent.objects.get(pk=response.json()["event"])
    assert response.status_code == 401
    assert response.json()["error"] == reason
    assert (event.status, event.detail, event.checksum_result) == (
        WebhookEvent.Status.REJECTED,
        reason,
        checksum_result,
    )


def _assert_no_money_moved(payment: Payment) -> None:
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert not LedgerTransaction.objects.exists()
    assert creator_balance(payment.order.lines.get().creator).available == Decimal("0.00")


def test_a_forged_checksum_is_refused(client):
    payment = PaymentFactory()
    forged = {**payment_body(payment), "checksum": hashlib.sha256(b"a guess").hexdigest()}

    response = post_webhook(client, forged, sign=False)

    _assert_refused_and_kept(response, "checksum invalid", "invalid")
    _assert_no_money_moved(payment)


def test_a_body_signed_with_another_key_is_refused(client):
    payment = PaymentFactory()

    response = post_webhook(client, payment_body(payment), key="another-merchants-key")

    _assert_refused_and_kept(response, "checksum invalid", "invalid")
    _assert_no_money_moved(payment)


def test_a_genuine_body_with_its_amount_raised_after_signing_is_refused(client):
    payment = PaymentFactory()
    genuine = sign(payment_body(payment, amount=Decimal("100.00")), SAMPLE_KEY)
    genuine["data"]["collectedAmount"] = str(payment.amount)

    response = post_webhook(client, genuine, sign=False)

    _assert_refused_and_kept(response, "checksum invalid", "invalid")
    _assert_no_money_moved(payment)


def test_a_replay_of_a_genuine_old_body_is_a_duplicate_with_no_second_effect(client):
    payment = PaymentFactory()
    raw = encode(sign(payment_body(payment), SAMPLE_KEY))
    first = send(client, "payments", raw)

    with time_machine.travel(timezone.now() + timedelta(days=30)):
        replay = send(client, "payments", raw)
        resigned = post_webhook(client, payment_body(payment))  # the same content, signed anew

    event = WebhookEvent.objects.get()
    assert first.json() == {"status": "processed", "event": event.pk}
    assert replay.json() == resigned.json() == {"status": "duplicate", "event": event.pk}
    assert event.duplicate_count == 2
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_CAPTURE).count() == 1
    assert creator_balance(payment.order.lines.get().creator).available == Decimal("9200.00")


def _js_string(value: object) -> str:
    """JavaScript's String() of a JSON value, as far as these tests need it."""
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _legacy_checksum_over_nested(body: dict, key: str) -> str:
    """What a JavaScript legacy signer computes for a nested body: String(object) is "[object Object]".

    The digest covers no field of ``data``, so it is the same for any amount or reference:
    anyone holding one such checksum could forge every other body.
    """
    content = "".join(_js_string(body[name]) for name in sorted(body) if name not in ("checksum", "checksumMethod"))
    return hmac.new(key.encode(), content.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("method", ["legacy", "LEGACY", " Legacy "])
def test_a_downgrade_to_the_legacy_method_with_a_nested_body_is_refused(client, method):
    payment = PaymentFactory()
    body = payment_body(payment)
    downgraded = {**body, "checksum": _legacy_checksum_over_nested(body, SAMPLE_KEY), "checksumMethod": method}

    response = post_webhook(client, downgraded, sign=False)

    _assert_refused_and_kept(response, "checksum unverifiable", "unverifiable")
    _assert_no_money_moved(payment)


def test_the_forger_computes_the_legacy_digest_exactly_as_the_legacy_method_does():
    """A control: on a flat body the forger's digest is the legacy method's, so the refusal above is the nesting."""
    flat = {"event": "PAYMENT RECEIVED", "orderReference": "BLN1", "amount": 25000, "paid": True}

    assert _legacy_checksum_over_nested(flat, SAMPLE_KEY) == compute(flat, SAMPLE_KEY, ChecksumMethod.LEGACY)
