"""Sending ClickPesa webhooks to the real endpoints through Django's test client.

    settings.CLICKPESA_CHECKSUM_KEY = SAMPLE_KEY        # or use_checksum_key(settings)
    body = payment_body(payment)                        # the sample, rewritten for this payment
    response = post_webhook(client, body)               # signed with SAMPLE_KEY, POSTed as JSON
    assert response.json() == {"status": "processed", "event": ...}

Bodies are sent as UTF-8 JSON (non-ASCII left as it is, as ClickPesa sends it) and signed
with :func:`clickpesa.checksum.sign`, so a test exercises the receiver's real verification.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.test import Client

from blinno.celery import app as celery_app
from clickpesa.checksum import ChecksumMethod
from clickpesa.checksum import sign as sign_body
from clickpesa.inbox import Processing
from clickpesa.models import WebhookEvent
from clickpesa.tasks import webhook_settle
from tests.celery_worker import publishing_to, unreachable_broker_url
from tests.clickpesa.samples import SAMPLE_KEY, sample

WEBHOOK_PATHS = {
    "payments": "/api/payments/webhook",
    "payouts": "/api/revenue/payouts/webhook",
}
"""The URLs configured in ClickPesa's dashboard, by endpoint name."""

AMOUNT_FIELDS = ("collectedAmount", "amount", "depositAmount")
CURRENCY_FIELDS = ("collectedCurrency", "currency", "depositCurrency")


def use_checksum_key(settings: Any, key: str = SAMPLE_KEY) -> str:
    """Configure the receiver's checksum key (pytest-django's ``settings`` fixture) and return it."""
    settings.CLICKPESA_CHECKSUM_KEY = key
    return key


def encode(body: object) -> bytes:
    """JSON as ClickPesa sends it: UTF-8, non-ASCII characters not escaped."""
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def post_webhook(
    client: Client,
    body: dict[str, Any] | None = None,
    *,
    endpoint: str = "payments",
    key: str = SAMPLE_KEY,
    sign: bool = True,
    method: str = ChecksumMethod.CANONICAL,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
    remote_addr: str | None = None,
) -> HttpResponse:
    """POST a webhook to ``endpoint`` ("payments" or "payouts") and return the response.

    ``body`` is signed with ``key`` and ``method`` (its old checksum fields replaced) unless
    ``sign`` is False, when it is sent exactly as given. ``raw`` sends those bytes instead of
    any body, unsigned. ``headers`` are added to the request (``{"X-Forwarded-For": ...}``);
    ``remote_addr`` sets the socket address Django sees.
    """
    if raw is None:
        if body is None:
            raise ValueError("post_webhook needs a body or raw bytes")
        raw = encode(sign_body(body, key, method) if sign else body)
    # The test client drops the content type of an empty body; real senders keep it.
    extra = {"CONTENT_TYPE": content_type}
    if remote_addr:
        extra["REMOTE_ADDR"] = remote_addr
    response = client.post(WEBHOOK_PATHS[endpoint], data=raw, content_type=content_type, headers=headers, **extra)
    return as_settled(response)


def as_settled(response: HttpResponse, *, timeout: float = 20.0) -> HttpResponse:
    """With queued settling: the answer a settling receiver gives for the event, once it is settled.

    A queued receiver answers ``accepted``; the settler (in-process in tests, right after the
    request's commit, or a real worker) settles the event. So that every test asserts the
    outcome in both modes, an ``accepted`` answer is replaced by the settled event's answer
    (``processed``, ``unmatched``, 500 for a failure, ...), as
    :meth:`clickpesa.inbox.Processing.answer` words it. An event another thread's settler
    holds is waited for (and settled here when tasks run in-process); one still RECEIVED after
    ``timeout`` (no worker runs) keeps ``accepted``, at once inside :func:`broker_down`. Any
    other answer is returned as it is.
    """
    if response.status_code != 200 or response.json().get("status") != "accepted":
        return response
    if _down_broker[0] and celery_app.conf.broker_url == _down_broker[0]:
        return response  # nothing can settle it now: the test settles it itself
    event_id = response.json()["event"]
    deadline = time.monotonic() + timeout
    while (event := WebhookEvent.objects.get(pk=event_id)).status == WebhookEvent.Status.RECEIVED:
        if time.monotonic() > deadline:
            return response
        if celery_app.conf.task_always_eager:
            webhook_settle.apply()
        time.sleep(0.05)
    failed = event.status in (WebhookEvent.Status.FAILED, WebhookEvent.Status.DEAD)
    status, answer = Processing(event, ran=True, failed=failed).answer()
    response.status_code = status
    response.content = json.dumps(answer).encode()
    vars(response).pop("_json", None)  # the test client keeps the JSON it parsed first
    return response


def sample_body(
    name: str,
    *,
    reference: str | None = None,
    amount: Decimal | str | None = None,
    currency: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """A sample from the shared samples (``"payment_received"`` or ``"payment_received.json"``), rewritten.

    ``reference`` replaces ``data.orderReference`` (``paymentReference`` for a deposit);
    ``amount`` and ``currency`` replace whichever amount and currency fields the sample has
    (``collectedAmount``, ``amount``, ``depositAmount``; amounts are sent as strings, as
    ClickPesa does); any other keyword sets that ``data`` field (``None`` removes it). The
    old checksum is dropped: :func:`post_webhook` signs the body it sends.
    """
    body = sample(name if name.endswith(".json") else f"{name}.json")
    body.pop("checksum", None)
    body.pop("checksumMethod", None)
    fields = body["data"]
    if reference is not None:
        fields["orderReference" if "orderReference" in fields else "paymentReference"] = reference
    if amount is not None:
        fields[next((f for f in AMOUNT_FIELDS if f in fields), "collectedAmount")] = str(amount)
    if currency is not None:
        fields[next((f for f in CURRENCY_FIELDS if f in fields), "collectedCurrency")] = currency
    for field, value in data.items():
        if value is None:
            fields.pop(field, None)
        else:
            fields[field] = value
    return body


def payment_body(payment: Any, name: str = "payment_received", **data: Any) -> dict[str, Any]:
    """A payment sample for ``payment``: its reference, and (when the sample has one) its amount and currency."""
    fields = sample(name if name.endswith(".json") else f"{name}.json")["data"]
    has_amount = any(field in fields for field in AMOUNT_FIELDS)
    defaults: dict[str, Any] = {"reference": payment.reference}
    if has_amount:
        defaults.update(amount=payment.amount, currency=payment.currency)
    return sample_body(name, **{**defaults, **data})


_down_broker = [""]
"""The unreachable broker URL :func:`broker_down` set, while it is in force."""


@contextmanager
def broker_down() -> Iterator[None]:
    """Publish tasks to a broker that is down (nothing listens) for the block: a queued receiver's
    nudge is lost and its events wait RECEIVED, as after a broker outage, for the test to settle."""
    _down_broker[0] = unreachable_broker_url()
    try:
        # Through publishing_to, which also hides an exported CELERY_BROKER_URL (CI sets one):
        # Celery would otherwise publish to that live broker and report it as conf.broker_url.
        with publishing_to(_down_broker[0]):
            yield
    finally:
        _down_broker[0] = ""
