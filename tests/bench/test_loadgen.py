"""bench/loadgen.py: its requests reach a real server and its minimal HTTP parser reads every framing."""

from __future__ import annotations

import asyncio
import json

import pytest

from bench import loadgen
from clickpesa.models import WebhookEvent


def _read(raw: bytes, *, eof: bool = False) -> tuple[int, bytes, bool]:
    async def answer() -> tuple[int, bytes, bool]:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        if eof:
            reader.feed_eof()
        return await loadgen._answer(reader)

    return asyncio.run(answer())


def test_a_body_of_content_length_bytes_leaves_the_connection_open():
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 23\r\n\r\n"
    raw = head + b'{"status": "accepted"}\nHTTP/1.1'  # the next response's first bytes stay unread
    assert _read(raw) == (200, b'{"status": "accepted"}\n', False)


def test_a_chunked_body_is_joined_and_its_trailers_skipped():
    head = b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw = head + b'5\r\n{"err\r\n9;ext=1\r\nor": "x"}\r\n0\r\nX-Trailer: t\r\n\r\n'
    assert _read(raw) == (401, b'{"error": "x"}', False)


def test_a_body_without_length_runs_to_the_end_and_closes():
    raw = b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"status": "duplicate"}'
    assert _read(raw, eof=True) == (200, b'{"status": "duplicate"}', True)


def test_connection_close_and_http_1_0_end_the_connection():
    assert _read(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")[2] is True
    assert _read(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")[2] is True


def test_a_post_carries_its_exact_body_and_length():
    wire = loadgen._encode({"path": "/api/payments/webhook", "body": '{"event": "é"}'}, "127.0.0.1", 8123)
    head, body = wire.split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /api/payments/webhook HTTP/1.1\r\n")
    assert {b"Host: 127.0.0.1:8123", b"Content-Type: application/json", b"Content-Length: 15"} <= set(
        head.split(b"\r\n")
    )
    assert body == '{"event": "é"}'.encode()


def test_only_loopback_is_loaded():
    assert loadgen._loopback_only("http://127.0.0.1:8123") == ("127.0.0.1", 8123)
    with pytest.raises(SystemExit, match="only targets this machine"):
        loadgen._loopback_only("http://192.0.2.10:80")


@pytest.mark.django_db(transaction=True)
def test_every_request_reaches_the_server_and_its_answer_is_recorded(live_server, tmp_path):
    """Against Django's live server: refused webhooks are answered and kept, a GET with headers is answered."""
    requests = [{"path": "/api/payments/webhook", "body": "not json", "tag": "bad"} for _ in range(5)]
    requests.append({"path": "/healthz", "method": "GET", "headers": {"Accept": "application/json"}, "tag": "health"})
    (tmp_path / "requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in requests))
    out = tmp_path / "result.json"

    loadgen.main(
        [f"--base={live_server.url}", f"--requests={tmp_path / 'requests.jsonl'}", "--concurrency=2", f"--out={out}"]
    )

    results = json.loads(out.read_text())["results"]
    assert sorted((r["tag"], r["status"]) for r in results if r["tag"] == "bad") == [("bad", 400)] * 5
    assert all("JSON" in r["answer"] or "json" in r["answer"] for r in results if r["tag"] == "bad")
    (health,) = [r for r in results if r["tag"] == "health"]
    assert health["status"] in (200, 503) and health["answer"]
    assert all(r["ms"] > 0 for r in results)
    assert WebhookEvent.objects.filter(status=WebhookEvent.Status.REJECTED).count() == 5


@pytest.mark.django_db(transaction=True)
def test_paced_requests_follow_their_schedule_not_the_answers(live_server, tmp_path):
    """At 20 a second, the tenth request is not sent before 0.45 s, however fast the server answers."""
    requests = [{"path": "/healthz", "method": "GET", "tag": "health"} for _ in range(10)]
    (tmp_path / "requests.jsonl").write_text("".join(json.dumps(r) + "\n" for r in requests))
    out = tmp_path / "result.json"

    loadgen.main(
        [
            f"--base={live_server.url}",
            f"--requests={tmp_path / 'requests.jsonl'}",
            "--concurrency=4",
            "--rate=20",
            f"--out={out}",
        ]
    )

    report = json.loads(out.read_text())
    assert len(report["results"]) == 10
    assert report["elapsed"] >= 9 / 20
