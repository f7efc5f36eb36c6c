"""The receiver behind `make serve` (gunicorn): a chunked body is read to its end, and a declared
length over the limit is answered 413 before the client sends a byte of it."""

from __future__ import annotations

import socket
import time

import pytest

from clickpesa.checksum import sign
from clickpesa.models import WebhookEvent
from payments.models import Payment
from tests.celery_worker import worker_database_url
from tests.clickpesa.samples import SAMPLE_KEY
from tests.factories import PaymentFactory
from tests.serve import Serve
from tests.webhooks import WEBHOOK_PATHS, encode, payment_body

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _exchange(port: int, request: bytes, *, timeout: float = 5) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer


def test_a_chunked_body_is_read_to_its_end_and_a_declared_oversize_is_refused_unread(tmp_path):
    payment = PaymentFactory()
    body = encode(sign(payment_body(payment), SAMPLE_KEY))
    path = WEBHOOK_PATHS["payments"]
    half = len(body) // 2
    chunked = (
        b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in (body[:half], body[half:])) + b"0\r\n\r\n"
    )

    with Serve(tmp_path, worker_database_url()) as server:
        processed = _exchange(
            server.port,
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode()
            + chunked,
        )
        started = time.monotonic()
        refused = _exchange(
            server.port,
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 10000000\r\nConnection: close\r\n\r\n".encode(),  # and not one byte of body
        )
        waited = time.monotonic() - started

    print(f"\n413 for a declared 10 MB body after {waited * 1000:.0f} ms, no body sent")
    assert processed.startswith(b"HTTP/1.1 200"), processed
    assert b'"status": "processed"' in processed or b'"status":"processed"' in processed
    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert refused.startswith(b"HTTP/1.1 413"), refused
    assert waited < 2  # answered without waiting for the body (the idle limit is 10 s)
    event = WebhookEvent.objects.get(status=WebhookEvent.Status.REJECTED)
    assert event.detail == "declared body of 10000000 bytes is larger than 65536 bytes"
