"""`make serve` keeps answering while 40 clients declare a body and never send it.

Each stalled client sends a request's headers with ``Content-Length: 1000`` and then nothing:
30 to the webhook URL (the receiver reads the body) and 10 to the admin login (refused at
once for want of a CSRF cookie; gunicorn then waits for the unread body before closing). For
10 s, /healthz is asked again and again and signed webhooks are delivered; every answer must
come, /healthz's 99th percentile under a second. The webhook clients, held until then, are
answered 400 once their body has been idle too long (blinno.wsgi.BODY_IDLE_SECONDS): no
thread is held for ever.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from blinno.wsgi import BODY_IDLE_SECONDS
from clickpesa.checksum import sign
from payments.models import Payment
from tests.celery_worker import worker_database_url
from tests.clickpesa.samples import SAMPLE_KEY
from tests.factories import PaymentFactory
from tests.serve import Serve
from tests.webhooks import WEBHOOK_PATHS, encode, payment_body

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STALLED = 40
SECONDS = 10.0
PAYMENTS = 30


def stall(port: int, path: str) -> socket.socket:
    """Open a connection and send a POST's headers declaring 1000 bytes of body, then nothing."""
    conn = socket.create_connection(("127.0.0.1", port), timeout=5)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    conn.sendall(head.encode())
    return conn


def answered(conn: socket.socket) -> bool:
    """Whether the server has sent anything on ``conn`` yet (nothing is consumed)."""
    conn.setblocking(False)
    try:
        return bool(conn.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False


def answer_of(conn: socket.socket, timeout: float) -> bytes:
    conn.settimeout(timeout)
    try:
        return conn.recv(100)
    except TimeoutError:
        return b""


def test_forty_stalled_bodies_stall_neither_healthz_nor_webhooks(tmp_path):
    payments = [PaymentFactory() for _ in range(PAYMENTS)]
    bodies = [encode(sign(payment_body(payment), SAMPLE_KEY)) for payment in payments]

    with Serve(tmp_path, worker_database_url()) as server:
        stalled = [stall(server.port, WEBHOOK_PATHS["payments"]) for _ in range(STALLED - 10)]
        refused = [stall(server.port, "/admin/login/") for _ in range(10)]
        opened = time.monotonic()
        latencies: list[float] = []
        health: list[int] = []
        delivered: list[int] = []

        def deliver() -> None:
            pause = SECONDS / (PAYMENTS + 1)
            for body in bodies:
                time.sleep(pause)
                response = requests.post(
                    f"{server.url}{WEBHOOK_PATHS['payments']}",
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=10,
                )
                delivered.append(response.status_code)

        sender = threading.Thread(target=deliver)
        sender.start()
        held = None
        while time.monotonic() - opened < SECONDS:
            if held is None and time.monotonic() - opened > SECONDS - 2:
                held = [answered(conn) for conn in stalled]
            started = time.monotonic()
            try:
                health.append(requests.get(f"{server.url}/healthz", timeout=5).status_code)
            except requests.RequestException as exc:
                health.append(type(exc).__name__)
            latencies.append(time.monotonic() - started)
            time.sleep(0.02)
        sender.join(30)
        answers = [answer_of(conn, BODY_IDLE_SECONDS + 5) for conn in stalled]
        for conn in stalled + refused:
            conn.close()

    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(
        f"\n/healthz under {STALLED} stalled clients for {SECONDS:.0f} s: {len(latencies)} requests, "
        f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {latencies[-1] * 1000:.0f} ms; {len(delivered)} webhooks delivered"
    )
    assert set(health) == {200}, [(i, h) for i, h in enumerate(health) if h != 200]
    assert p99 < 1.0, f"/healthz p99 {p99:.3f} s"
    assert delivered == [200] * PAYMENTS
    assert Payment.objects.filter(pk__in=[p.pk for p in payments], status=Payment.Status.COMPLETED).count() == PAYMENTS
    assert held == [False] * len(stalled), "a stalled client was answered before its body's idle limit"
    assert all(answer.startswith(b"HTTP/1.1 400") for answer in answers), answers
