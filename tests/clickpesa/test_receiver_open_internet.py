"""The receiver on the open internet: refusals are bounded in size and rate, old junk is pruned,
and a chunked body is read to its end or refused with 411, never mistaken for an empty one."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from clickpesa import inbox, tasks
from clickpesa.checksum import sign
from clickpesa.models import WebhookEvent
from payments.models import Payment
from revenue.models import LedgerTransaction
from tests.clickpesa.samples import SAMPLE_KEY
from tests.factories import PaymentFactory
from tests.webhooks import WEBHOOK_PATHS, encode, payment_body, post_webhook, use_checksum_key

pytestmark = pytest.mark.django_db

Status = WebhookEvent.Status


@pytest.fixture(autouse=True)
def _production_limits(settings):
    use_checksum_key(settings)
    settings.CLICKPESA_WEBHOOK_REFUSALS_RATE = "60/m"
    cache.clear()  # the refusal counts of earlier tests from this address
    yield
    cache.clear()


def _table_bytes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_total_relation_size(%s)", [WebhookEvent._meta.db_table])
        return int(cursor.fetchone()[0])


def test_a_refused_body_keeps_only_its_head_and_the_whole_bodys_hash(client, settings):
    junk = os.urandom(60 * 1024)

    response = post_webhook(client, raw=junk)

    event = WebhookEvent.objects.get()
    assert response.status_code == 400
    assert len(event.body.encode("utf-8")) <= 3 * settings.CLICKPESA_REJECTED_BODY_BYTES  # replacement chars widen
    assert len(event.body) <= settings.CLICKPESA_REJECTED_BODY_BYTES
    assert event.body_sha256 == hashlib.sha256(junk).hexdigest()


def test_refusals_past_the_rate_are_answered_429_and_not_stored(client):
    # Time stands still, so the 65 refusals fall in one window of the limiter however slow they are.
    with time_machine.travel(timezone.now(), tick=False):
        answers = [post_webhook(client, raw=b"not json").status_code for _ in range(65)]

    assert answers == [400] * 60 + [429] * 5
    assert WebhookEvent.objects.count() == 60
    # Another address is counted on its own, and a valid delivery from the limited one is processed.
    assert post_webhook(client, raw=b"not json", remote_addr="203.0.113.7").status_code == 400
    payment = PaymentFactory()
    assert post_webhook(client, payment_body(payment)).json()["status"] == "processed"


def test_five_seconds_of_60_kb_junk_grow_the_table_by_under_2_mb_and_valid_deliveries_still_count(client):
    before = _table_bytes()
    payments = []
    sent = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        post_webhook(client, raw=os.urandom(60 * 1024))
        sent += 1
        if sent % 25 == 0:
            payments.append(PaymentFactory())
            assert post_webhook(client, payment_body(payments[-1])).json()["status"] == "processed"

    grown = _table_bytes() - before
    print(f"\n{sent} junk requests of 60 KB in 5 s; webhook table grew {grown / 1024:.0f} KB")
    assert sent > 60  # more than the refusals rate lets through, so the limit was exercised
    assert grown < 2 * 1024 * 1024
    assert Payment.objects.filter(pk__in=[p.pk for p in payments], status=Payment.Status.COMPLETED).count() == len(
        payments
    )
    assert LedgerTransaction.objects.count() == len(payments)


def test_old_refused_and_ignored_bodies_are_emptied_and_their_rows_and_hashes_kept(client):
    post_webhook(client, raw=b"not json")
    ignored = encode(sign({"event": "SOMETHING NEW", "data": {"orderReference": "X1"}}, SAMPLE_KEY))
    post_webhook(client, raw=ignored)
    payment = PaymentFactory()
    post_webhook(client, payment_body(payment))
    assert sorted(WebhookEvent.objects.values_list("status", flat=True)) == [
        Status.IGNORED,
        Status.PROCESSED,
        Status.REJECTED,
    ]

    assert inbox.prune_bodies(older_than_days=30) == 0  # nothing old enough yet
    with time_machine.travel(timezone.now() + timedelta(days=31)):
        assert tasks.webhook_bodies_prune() == 2

    rows = {event.status: event for event in WebhookEvent.objects.all()}
    assert rows[Status.REJECTED].body == rows[Status.IGNORED].body == ""
    assert rows[Status.REJECTED].body_sha256 == hashlib.sha256(b"not json").hexdigest()
    assert rows[Status.IGNORED].body_sha256 == hashlib.sha256(ignored).hexdigest()
    assert rows[Status.PROCESSED].body != ""  # the money's evidence stays whole


def test_a_chunked_body_without_a_delimiting_server_is_refused_with_411(client):
    body = encode(sign(payment_body(PaymentFactory()), SAMPLE_KEY))

    response = client.generic(
        "POST",
        WEBHOOK_PATHS["payments"],
        data=body,
        content_type="application/json",
        CONTENT_LENGTH="",
        HTTP_TRANSFER_ENCODING="chunked",
    )

    assert response.status_code == 411
    assert WebhookEvent.objects.get().status == Status.REJECTED
