"""Shared pieces of the hostile-input tests: sending raw bodies, what money looks like, what a refusal keeps."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.conf import settings as django_settings
from django.http import HttpResponse
from django.test import Client
from hypothesis import HealthCheck, settings

from clickpesa.models import WebhookEvent
from payments.models import Payment
from revenue.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payout
from tests.webhooks import WEBHOOK_PATHS, as_settled


def fuzz_settings(max_examples: int) -> settings:
    """Hypothesis settings for CI: a fixed sequence of examples (derandomized), no example database."""
    return settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


def send(client: Client, endpoint: str, raw: bytes, content_type: str = "application/json") -> HttpResponse:
    """POST exactly these bytes to an endpoint (an ``accepted`` answer shown as settled: ``as_settled``)."""
    return as_settled(
        client.post(WEBHOOK_PATHS[endpoint], data=raw, content_type=content_type, CONTENT_TYPE=content_type)
    )


def encode_any(body: Any) -> bytes:
    """Bytes as given; anything else as JSON the way a careless sender writes it (NaN and all)."""
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return json.dumps(body, ensure_ascii=False).encode("utf-8", errors="surrogatepass")


def money_state() -> tuple:
    """Everything money: journal sizes, every cached balance, every payment's and payout's status."""
    return (
        LedgerTransaction.objects.count(),
        LedgerEntry.objects.count(),
        tuple(LedgerAccount.objects.order_by("pk").values_list("pk", "balance")),
        tuple(Payment.objects.order_by("pk").values_list("pk", "status")),
        tuple(Payout.objects.order_by("pk").values_list("pk", "status")),
    )


def stored_text(raw: bytes) -> str:
    """How the inbox keeps a body: invalid UTF-8 and NUL replaced (PostgreSQL text holds neither)."""
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def assert_answered_and_kept(response: HttpResponse, raw: bytes) -> WebhookEvent:
    """No 5xx; a JSON answer naming the stored event; a refusal kept as REJECTED with its reason and body."""
    assert response.status_code < 500, response.content[:300]
    answer = response.json()
    event = WebhookEvent.objects.get(pk=answer["event"])
    if response.status_code >= 400:
        assert event.status == WebhookEvent.Status.REJECTED
        assert event.detail
        assert answer["error"] == event.detail
        if response.status_code == 413:  # refused on its declared length, before it was read
            assert (event.body, event.body_sha256) == ("", "")
        else:  # the head of the body, and the whole body's hash
            assert event.body == stored_text(raw[: django_settings.CLICKPESA_REJECTED_BODY_BYTES])
            assert event.body_sha256 == hashlib.sha256(raw).hexdigest()
    return event
