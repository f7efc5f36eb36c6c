"""An async HTTP load generator: POSTs prepared bodies to one server on this machine.

Runs as its own process, so that its CPU is not the server's. Reads a JSON-lines file of
requests (``{"path": ..., "body": ..., "tag": ...}``; ``body`` is sent as it is), keeps
``--concurrency`` connections busy, and stops when the requests run out or ``--duration``
seconds have passed, whichever comes first. Writes one JSON document: for every request sent,
its tag, HTTP status, the ``status`` word of a JSON answer, and its latency in milliseconds.

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

import aiohttp

HEADERS = {"Content-Type": "application/json"}
REQUEST_TIMEOUT_SECONDS = 30


def _loopback_only(base: str) -> str:
    host = urlsplit(base).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise SystemExit(f"refusing to load {host}: the bench only targets this machine")
    return base.rstrip("/")


async def _run(base: str, requests: list[dict], concurrency: int, duration: float) -> dict:
    results: list[tuple[str, int, str, float]] = []
    queue = iter(requests)
    deadline = time.monotonic() + duration
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)

    async def worker(session: aiohttp.ClientSession) -> None:
        for request in queue:
            if time.monotonic() >= deadline:
                return
            started = time.perf_counter()
            answer = ""
            try:
                method, headers = request.get("method", "POST"), {**HEADERS, **request.get("headers", {})}
                body = request["body"] if method == "POST" else None
                async with session.request(method, base + request["path"], data=body, headers=headers) as response:
                    status = response.status
                    payload = await response.read()
                try:
                    parsed = json.loads(payload)
                    answer = str(parsed.get("status") or parsed.get("error") or "")
                except (ValueError, AttributeError):
                    answer = payload[:60].decode("utf-8", "replace")
            except (aiohttp.ClientError, TimeoutError) as exc:
                status, answer = 0, type(exc).__name__
            results.append((request.get("tag", ""), status, answer, (time.perf_counter() - started) * 1000))

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        began = time.monotonic()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.monotonic() - began
    return {
        "concurrency": concurrency,
        "elapsed": elapsed,
        "results": [{"tag": t, "status": s, "answer": a, "ms": round(ms, 3)} for t, s, a, ms in results],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="server base URL, loopback only")
    parser.add_argument("--requests", required=True, type=Path, help="JSON-lines file of requests")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=30.0, help="upper bound in seconds")
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    base = _loopback_only(args.base)
    with args.requests.open(encoding="utf-8") as lines:
        requests = [json.loads(line) for line in lines if line.strip()]
    report = asyncio.run(_run(base, requests, args.concurrency, args.duration))
    args.out.write_text(json.dumps(report), encoding="utf-8")
    print(f"loadgen: {len(report['results'])} requests in {report['elapsed']:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
