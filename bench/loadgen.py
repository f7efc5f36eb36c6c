"""An HTTP/1.1 load generator on asyncio streams: sends prepared requests to one server on this machine.

Runs as its own process, so that its CPU is not the server's; but it shares the machine's cores,
so it is kept lean: every request's bytes are built before the clock starts, and an answer is
read by a minimal parser (status line, headers, then a body of Content-Length bytes, chunked, or
up to the connection's end). The aiohttp client before it took 0.5-0.7 ms of CPU per request,
this one 0.3-0.5 (whole processes, start-up included, measured the same way); an acknowledgement
takes about 1.6 ms of the server's. ``bench/run.py`` reports this one's CPU per request.

Reads a JSON-lines file of requests (``{"path": ..., "body": ..., "tag": ...}``, optionally
``"method"`` and ``"headers"``; ``body`` is sent as it is), keeps ``--concurrency`` connections
busy (a connection the server closes is opened again), or with ``--rate`` sends the requests
at that pace over at most that many connections, and stops when the requests run out or
``--duration`` seconds have passed, whichever comes first. Writes one JSON document: for every
request sent, its tag, HTTP status (0 when the exchange failed), the ``status`` word of a JSON
answer (or ``error``, or the failure's name), and its latency in milliseconds; and the CPU time
this process spent while the clock ran.

Only loopback targets are accepted: this is a benchmark, never traffic to another machine.

    python bench/loadgen.py --base http://127.0.0.1:8123 --requests reqs.jsonl \
        --concurrency 16 --duration 30 --out result.json
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

REQUEST_TIMEOUT_SECONDS = 30
USER_AGENT = "blinno-bench-loadgen"


def _loopback_only(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    host = parts.hostname or ""
    if parts.scheme != "http":
        raise SystemExit(f"only plain http on loopback is supported, not {parts.scheme!r}")
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to load {host}: the bench only targets this machine")
    return host, parts.port or 80


def _encode(request: dict, host: str, port: int) -> bytes:
    """The request's bytes on the wire: request line, headers, and for a POST its body."""
    method = request.get("method", "POST")
    body = request["body"].encode("utf-8") if method == "POST" else b""
    headers = {"Host": f"{host}:{port}", "User-Agent": USER_AGENT, **request.get("headers", {})}
    if method == "POST":
        headers = {"Content-Type": "application/json", **headers, "Content-Length": str(len(body))}
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"{method} {request['path']} HTTP/1.1\r\n{head}\r\n".encode("latin-1") + body


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Read one response: its status, its body, and whether the connection ends with it."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head[:-4].split(b"\r\n")
    version, status, _ = status_line.split(b" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    closes = headers.get(b"connection") == b"close" or version == b"HTTP/1.0"
    if b"content-length" in headers:
        body = await reader.readexactly(int(headers[b"content-length"]))
    elif b"chunked" in headers.get(b"transfer-encoding", b""):
        body = await _chunked(reader)
    else:
        body, closes = await reader.read(), True
    return int(status), body, closes


async def _chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while size := int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16):
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)
    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers, if any, up to the empty line
        pass
    return b"".join(chunks)


def _word(body: bytes) -> str:
    try:
        parsed = json.loads(body)
        return str(parsed.get("status") or parsed.get("error") or "")
    except (ValueError, AttributeError):
        return body[:60].decode("utf-8", "replace")


async def _run(
    host: str, port: int, requests: list[tuple[str, bytes]], concurrency: int, duration: float, rate: float = 0.0
) -> dict:
    results: list[tuple[str, int, str, float]] = []
    queue = enumerate(requests)
    began = time.monotonic()
    deadline = began + duration

    async def worker() -> None:
        stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        for number, (tag, payload) in queue:
            if rate:
                # Paced: request n is due n / rate seconds after the start, whoever is free to send it.
                await asyncio.sleep(began + number / rate - time.monotonic())
            if time.monotonic() >= deadline:
                break
            started = time.perf_counter()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                    if stream is None:
                        stream = await asyncio.open_connection(host, port)
                    reader, writer = stream
                    writer.write(payload)
                    status, body, closes = await _answer(reader)
                answer = _word(body)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
                status, answer, closes = 0, type(exc).__name__, True
            results.append((tag, status, answer, (time.perf_counter() - started) * 1000))
            if closes and stream is not None:
                stream[1].close()
                stream = None
        if stream is not None:
            stream[1].close()

    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - began
    return {
        "concurrency": concurrency,
        "elapsed": elapsed,
        "cpu_seconds": time.process_time() - cpu,  # while the clock ran: reading the requests file is not counted
        "results": [{"tag": t, "status": s, "answer": a, "ms": round(ms, 3)} for t, s, a, ms in results],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="server base URL, loopback only")
    parser.add_argument("--requests", required=True, type=Path, help="JSON-lines file of requests")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=30.0, help="upper bound in seconds")
    parser.add_argument("--rate", type=float, default=0.0, help="requests per second to offer (0: as fast as answered)")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    host, port = _loopback_only(args.base)
    with args.requests.open(encoding="utf-8") as lines:
        prepared = [json.loads(line) for line in lines if line.strip()]
    requests = [(request.get("tag", ""), _encode(request, host, port)) for request in prepared]
    report = asyncio.run(_run(host, port, requests, args.concurrency, args.duration, args.rate))
    args.out.write_text(json.dumps(report), encoding="utf-8")
    print(f"loadgen: {len(report['results'])} requests in {report['elapsed']:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
