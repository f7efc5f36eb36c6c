"""Run every benchmark scenario in one go and print one table (``make bench``; see bench/README.md).

Environment (all optional):

* ``BENCH_DATABASE_URL``: the database to use, dropped and recreated on every run; default:
  ``DATABASE_URL``'s database with ``_bench`` appended, on the same server.
* ``BENCH_REDIS_URL``: the Celery broker of the server under test (default Redis DB 11 on
  127.0.0.1); the bench's queues are ``bench`` and ``bench.settle``, emptied before and after.
* ``BENCH_SECONDS`` (30): length of each throughput run (acknowledgements, end to end, sync).
  ``BENCH_SCALE`` (0.05): the fraction of the back-office data set to load (1 = 1,000,000
  payouts, 2,000,000 fee rows, 5,000,000 ledger entries). ``BENCH_SCENARIOS``: a comma list of
  ``webhooks,endtoend,sync,api,storm,payouts,scale``.
* ``BENCH_WORKERS`` (4), ``BENCH_WORKER_CLASS`` (sync), ``BENCH_THREADS`` (1): the gunicorn
  configuration, the same for the baseline and the webhook runs.

Nothing here asserts a speed: the figures are printed, saved under bench/results/ and
compared with the targets in words.
"""

from __future__ import annotations

import json
import os
import platform
import random
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
CHECKSUM_KEY = "bench-checksum-key"
DEFAULT_SCENARIOS = "webhooks,endtoend,sync,api,storm,payouts,scale"
RATE_CAP = int(os.environ.get("BENCH_RATE_CAP", "1200"))
"""Orders prepared per second of a throughput run: a run that uses them all stops early (and says so)."""


def _bench_database_url() -> str:
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        return explicit
    source = os.environ.get("DATABASE_URL")
    if not source:
        raise SystemExit("Set DATABASE_URL (or BENCH_DATABASE_URL); `make bench` does it for you.")
    parts = urlsplit(source)
    head, _, name = parts.path.rpartition("/")
    return urlunsplit(parts._replace(path=f"{head}/{name}_bench"))


def _configure_environment() -> None:
    """Settings of the processes under test: production-like (DEBUG off), signed webhooks, a real broker."""
    os.environ["DATABASE_URL"] = _bench_database_url()
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["DEBUG"] = "false"
    # Persistent connections for the whole bench, so that CpuMeter sees every backend's work.
    os.environ["DB_CONN_MAX_AGE"] = "3600"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-never-used-elsewhere")
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    os.environ["CLICKPESA_CHECKSUM_KEY"] = CHECKSUM_KEY
    os.environ["CELERY_BROKER_URL"] = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = "bench"
    os.environ["CLICKPESA_SIMULATOR_ENABLED"] = "true"
    os.environ["CLICKPESA_CLIENT_ID"] = "bench-client"
    os.environ["CLICKPESA_API_KEY"] = "bench-api-key"
    # No bench process may reach ClickPesa: scenarios that talk to it point at the simulator,
    # and anything else (the home page's balance) meets a closed local port and falls back.
    os.environ["CLICKPESA_BASE_URL"] = "http://127.0.0.1:9/third-parties"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The scale scenario's superuser has no second factor: its pages are what is measured.
    os.environ.setdefault("ADMIN_REQUIRE_2FA", "false")
    # The storefront API's per-key throttle is not what is measured.
    os.environ["API_THROTTLE_STOREFRONT"] = "10000000/min"
    # gunicorn's workers share their metrics through files, as in production.
    metrics = RESULTS / "prometheus"
    metrics.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)


_configure_environment()

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402

from bench import data  # noqa: E402
from bench.baseline_urls import BASELINE_PATH  # noqa: E402
from bench.table import percentile  # noqa: E402
from blinno.celery import settle_queue  # noqa: E402


def _recreate_database() -> None:
    """Drop and create the bench database, then migrate it."""
    import psycopg

    db = settings.DATABASES["default"]
    name = db["NAME"]
    if not name.endswith("bench"):
        raise SystemExit(f"refusing to drop {name!r}: the bench only drops a database whose name ends in 'bench'")
    connections.close_all()
    params = {"dbname": "postgres", "user": db["USER"], "host": db["HOST"], "port": db["PORT"] or None}
    if db.get("PASSWORD"):
        params["password"] = db["PASSWORD"]
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)


def _empty_queue() -> None:
    """Empty the bench's Celery queues and kombu's bindings of them; stop clearly when Redis is not there."""
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2)
    try:
        for queue in (settings.CELERY_TASK_DEFAULT_QUEUE, settle_queue(settings.CELERY_TASK_DEFAULT_QUEUE)):
            client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    except redis.ConnectionError as exc:
        raise SystemExit(
            f"Redis is not reachable at {settings.CELERY_BROKER_URL} ({exc}); start it or set BENCH_REDIS_URL."
        ) from None
    finally:
        client.close()


# ---- gunicorn ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn serving the product (and the baseline view) on a free loopback port.

    ``env`` overrides the bench's environment for this server (the sync run takes the broker away).
    """

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = env or {}
        self.workers = int(os.environ.get("BENCH_WORKERS", "4"))
        self.worker_class = os.environ.get("BENCH_WORKER_CLASS", "sync")
        self.threads = int(os.environ.get("BENCH_THREADS", "1"))
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = RESULTS / "gunicorn.log"
        self.process: subprocess.Popen | None = None

    @property
    def description(self) -> str:
        threads = f" x {self.threads} threads" if self.worker_class == "gthread" else ""
        return f"gunicorn {self.workers} {self.worker_class} workers{threads}"

    def start(self) -> None:
        for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
            stale.unlink()
        command = [
            str(REPO / ".venv" / "bin" / "gunicorn"),
            "blinno.wsgi:application",
            f"--bind=127.0.0.1:{self.port}",
            f"--workers={self.workers}",
            f"--worker-class={self.worker_class}",
            f"--threads={self.threads}",
            "--backlog=2048",
            "--keep-alive=5",
            f"--error-logfile={self.log}",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env={**os.environ, **self.env}, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited with {self.process.returncode}; see {self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("gunicorn did not start within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class Worker:
    """One Celery worker (one process, one task at a time) on the bench's two queues: the settler and the mailer."""

    def __init__(self) -> None:
        self.log = RESULTS / "celery-worker.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            str(REPO / ".venv" / "bin" / "celery"),
            "-A",
            "blinno",
            "worker",
            "--pool=solo",
            # The settle queue first, as a worker without --queues takes them (blinno/celery.py).
            f"--queues={settle_queue(settings.CELERY_TASK_DEFAULT_QUEUE)},{settings.CELERY_TASK_DEFAULT_QUEUE}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=WARNING",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, cwd=REPO, env=os.environ.copy(), stdout=log, stderr=log)
        time.sleep(3)  # connected and consuming; nudges sent before would wait in the queue anyway
        if self.process.poll() is not None:
            raise SystemExit(f"the Celery worker exited with {self.process.returncode}; see {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def settle_all(*, timeout: float = 600) -> None:
    """Wait until no event is RECEIVED (the worker's settler has caught up), then sweep once here.

    The sweep in this process is what beat would do for a nudge that got lost; it finds nothing
    when the worker kept up.
    """
    from clickpesa import inbox

    deadline = time.monotonic() + timeout
    while inbox.backlog().count and time.monotonic() < deadline:
        time.sleep(0.2)
    while inbox.settle_batch():
        pass


def settled_since(first_id: int) -> dict:
    """Deliveries settled since event ``first_id``: first receipt to last settlement, and the settle lag."""
    from django.db.models import F, Max, Min

    from clickpesa.models import WebhookEvent

    events = WebhookEvent.objects.filter(pk__gte=first_id, source=WebhookEvent.Source.WEBHOOK).exclude(
        status=WebhookEvent.Status.REJECTED
    )
    span = events.aggregate(first=Min("received_at"), last=Max("processed_at"))
    lags = [
        lag.total_seconds()
        for lag in events.filter(processed_at__isnull=False)
        .annotate(lag=F("processed_at") - F("received_at"))
        .values_list("lag", flat=True)
    ]
    seconds = (span["last"] - span["first"]).total_seconds() if span["first"] and span["last"] else 0.0
    return {
        "settled": len(lags),
        "span_seconds": seconds,
        "settled_per_second": len(lags) / seconds if seconds else 0.0,
        "lag_p50": percentile(lags, 0.5),
        "lag_p99": percentile(lags, 0.99),
        "unsettled": events.filter(status=WebhookEvent.Status.RECEIVED).count(),
    }


def _next_event_id() -> int:
    from django.db.models import Max

    from clickpesa.models import WebhookEvent

    return (WebhookEvent.objects.aggregate(top=Max("pk"))["top"] or 0) + 1


# ---- load ---------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far; 0 when it is gone or not ours to read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """Where a run's CPU went: gunicorn's processes, the PostgreSQL backends serving them, commits.

    Read from /proc (Linux, with the database on this machine, as the bench runs it): the
    sum of each process's CPU time and PostgreSQL's commit counter, before and after a run.
    """

    def __init__(self, server: Server) -> None:
        self.server = server

    def _web_pids(self) -> list[int]:
        master = self.server.process.pid
        children = Path(f"/proc/{master}/task/{master}/children")
        return [master, *(int(pid) for pid in children.read_text().split())] if children.exists() else [master]

    def snapshot(self) -> dict:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            backends = [pid for (pid,) in cursor.fetchall()]
            cursor.execute("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
            (commits,) = cursor.fetchone()
        return {
            "web": {pid: _cpu_seconds(pid) for pid in self._web_pids()},
            "database": {pid: _cpu_seconds(pid) for pid in backends},
            "commits": commits,
        }

    @staticmethod
    def per_request(before: dict, after: dict, requests: int) -> dict[str, float]:
        """CPU milliseconds (web, database) and commits per request between two snapshots.

        Per process: a process that started during the run counts from zero; one that ended
        during it is missed (the bench keeps its connections for the whole run to avoid that).
        """
        if not requests:
            return {}

        def spent(side: str) -> float:
            return sum(cpu - before[side].get(pid, 0.0) for pid, cpu in after[side].items())

        return {
            "web_cpu_ms": spent("web") * 1000 / requests,
            "db_cpu_ms": spent("database") * 1000 / requests,
            # The meter's own two reads commit too; negligible against thousands of requests.
            "commits": (after["commits"] - before["commits"]) / requests,
        }


def analyze() -> None:
    """Give the planner statistics of the rows just prepared, as autovacuum gives a live database's.

    The bench fills tables seconds before it measures, before autovacuum has analyzed them:
    without statistics the planner took a claim of three notifications by id through the
    status index, reading 46,000 entries of it (2.7 ms instead of 0.03).
    """
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def load(
    server: Server,
    name: str,
    requests: list[tuple[str, str, str]],
    *,
    concurrency: int,
    seconds: float,
    rate: float = 0.0,
) -> dict:
    """Send ``requests`` from a separate load-generator process (paced at ``rate`` a second if given)."""
    request_file = RESULTS / f"{name}.jsonl"
    out_file = RESULTS / f"{name}.result.json"
    data.write_requests(request_file, requests)
    meter = CpuMeter(server)
    analyze()
    # pg_stat_database lags its backends by up to PGSTAT_MIN_INTERVAL (1 s), before and after.
    time.sleep(1.1)
    before = meter.snapshot()
    subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "loadgen.py"),
            f"--base={server.base}",
            f"--requests={request_file}",
            f"--concurrency={concurrency}",
            f"--duration={seconds}",
            f"--rate={rate}",
            f"--out={out_file}",
        ],
        check=True,
    )
    time.sleep(1.1)
    after = meter.snapshot()
    report = json.loads(out_file.read_text(encoding="utf-8"))
    results = report["results"]
    latencies = [r["ms"] for r in results]
    errors = [r for r in results if not 200 <= r["status"] < 300]
    return {
        "name": name,
        "concurrency": concurrency,
        "sent": len(results),
        "offered": len(requests),
        "elapsed": report["elapsed"],
        "rps": len(results) / report["elapsed"] if report["elapsed"] else 0.0,
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
        "errors": len(errors),
        "error_kinds": dict(Counter(f"{r['status']} {r['answer']}" for r in errors).most_common(5)),
        "answers": dict(Counter(r["answer"] for r in results)),
        **CpuMeter.per_request(before, after, len(results)),
        # The load generator shares the machine's cores: its CPU per request is reported with the server's.
        "loadgen_cpu_ms": report["cpu_seconds"] * 1000 / len(results) if results else 0.0,
        "results": results,
    }


def _deliveries(payments: list, tag: str = "webhook") -> list[tuple[str, str, str]]:
    """One signed PAYMENT RECEIVED delivery per payment, as :func:`load` takes them."""
    return [
        (data.PAYMENTS_PATH, data.payment_received_body(p, CHECKSUM_KEY, serial=i), tag) for i, p in enumerate(payments)
    ]


def _summary(run: dict) -> dict:
    return {k: v for k, v in run.items() if k != "results"}


# ---- scenarios ------------------------------------------------------------------------------


def delivery_cost(people: data.People, count: int = 1000) -> dict:
    """What one delivery costs, one at a time, in this process: statements, Python and database CPU.

    Django's test client runs the same middleware, view and pipeline as gunicorn, without the
    HTTP server and without concurrency, so the figures vary much less than under load. The
    Python CPU includes the test client's own work (for both); the statements are those sent
    through a cursor (BEGIN and COMMIT are not); the database CPU is this connection's
    backend's, from /proc.
    """
    from django.test import Client

    client = Client()
    executed: list[str] = []

    def record(execute, sql, params, many, context):
        executed.append(sql)
        return execute(sql, params, many, context)

    from clickpesa import inbox

    costs = {}
    for name, path, seed in (("baseline", f"/{BASELINE_PATH}", 7), ("webhook", data.PAYMENTS_PATH, 8)):
        pool = data.orders_in_bulk(people, count + 51, seed=seed)
        bodies = [data.payment_received_body(p, CHECKSUM_KEY, serial=i) for i, p in enumerate(pool)]
        for body in bodies[:50]:  # warm up: imports, caches, the connection
            client.post(path, body, content_type="application/json")
        executed.clear()
        with connection.execute_wrapper(record):
            client.post(path, bodies[50], content_type="application/json")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            (backend,) = cursor.fetchone()
        database, python, wall = _cpu_seconds(backend), time.process_time(), time.perf_counter()
        answers = Counter(client.post(path, body, content_type="application/json").status_code for body in bodies[51:])
        costs[name] = {
            "requests": count,
            "statements": len(executed),
            "python_cpu_ms": (time.process_time() - python) * 1000 / count,
            "db_cpu_ms": (_cpu_seconds(backend) - database) * 1000 / count,
            "wall_ms": (time.perf_counter() - wall) * 1000 / count,
            "answers": dict(answers),
        }
    # What the acknowledged deliveries cost the settler, per event: its batches, one after the other.
    executed.clear()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    database, python, wall, settled = _cpu_seconds(backend), time.process_time(), time.perf_counter(), 0
    with connection.execute_wrapper(record):
        while batch := inbox.settle_batch():
            settled += batch.settled
    if settled:
        costs["settle"] = {
            "requests": settled,
            "statements": len(executed) / settled,
            "python_cpu_ms": (time.process_time() - python) * 1000 / settled,
            "db_cpu_ms": (_cpu_seconds(backend) - database) * 1000 / settled,
            "wall_ms": (time.perf_counter() - wall) * 1000 / settled,
            "answers": {"settled": settled},
        }
    return costs


def scenario_webhooks(server: Server, people: data.People, seconds: float) -> dict:
    """Baseline and acknowledgements (queued settling, no worker running) side by side at 16 and 64 connections."""
    needed = int(seconds * RATE_CAP)
    runs = {}
    for concurrency in (16, 64):
        started = time.monotonic()
        warm = data.orders_in_bulk(people, 400, seed=concurrency)
        baseline_pool = data.orders_in_bulk(people, 2000, seed=concurrency + 1)
        webhook_pool = data.orders_in_bulk(people, needed, seed=concurrency + 2)
        print(f"  prepared {needed + 2400} orders in {time.monotonic() - started:.0f}s", flush=True)
        load(server, f"warmup-{concurrency}", _deliveries(warm, "warm"), concurrency=concurrency, seconds=10)

        # The baseline cycles over its own payments; it changes no status, so they can repeat.
        baseline_bodies = [data.payment_received_body(p, CHECKSUM_KEY, serial=i) for i, p in enumerate(baseline_pool)]
        cycle = [(f"/{BASELINE_PATH}", baseline_bodies[i % len(baseline_bodies)], "baseline") for i in range(needed)]
        runs[f"baseline-{concurrency}"] = load(
            server, f"baseline-{concurrency}", cycle, concurrency=concurrency, seconds=seconds
        )
        runs[f"webhook-{concurrency}"] = load(
            server, f"webhook-{concurrency}", _deliveries(webhook_pool), concurrency=concurrency, seconds=seconds
        )
        for name in (f"baseline-{concurrency}", f"webhook-{concurrency}"):
            run = runs[name]
            print(
                f"  {name}: {run['rps']:.0f} req/s p50 {run['p50']:.1f} p95 {run['p95']:.1f} "
                f"p99 {run['p99']:.1f} ms, errors {run['errors']}",
                flush=True,
            )
    return runs


def scenario_api(server: Server, people: data.People, seconds: float) -> dict:
    """The storefront API at 16 connections next to the baseline view: order creation and GET balance.

    Orders name one or two creators (each line an API line, with its own Idempotency-Key); the
    balances are of creators who earned, through the API key the storefront would use.
    """
    from django.db.models import F

    from accounts.models import User
    from api.models import Scope, StorefrontKey

    User.objects.filter(pk__in=[u.pk for u in (*people.creators, *people.buyers)]).update(external_id=F("username"))
    _, key = StorefrontKey.objects.create_key(name="bench", scopes=[Scope.STOREFRONT])
    auth = {"Authorization": f"Api-Key {key}"}
    rng = random.Random(12)
    needed = int(seconds * RATE_CAP)

    def order(i: int) -> tuple:
        lines = [
            {"creator": c.username, "transaction_type": "marketplace", "amount": f"{rng.randrange(1000, 90000)}.00"}
            for c in rng.sample(people.creators, rng.choice((1, 2)))
        ]
        body = json.dumps({"buyer": rng.choice(people.buyers).username, "currency": "TZS", "lines": lines})
        return ("/api/v1/orders", body, "order", "POST", {**auth, "Idempotency-Key": f"bench-{i}-{rng.random()}"})

    def balance() -> tuple:
        return (f"/api/v1/creators/{rng.choice(people.creators).username}/balance", "", "balance", "GET", auth)

    load(
        server,
        "api-warmup",
        [order(i) for i in range(300)] + [balance() for _ in range(300)],
        concurrency=16,
        seconds=10,
    )
    baseline_pool = data.orders_in_bulk(people, 2000, seed=120)
    baseline_bodies = [data.payment_received_body(p, CHECKSUM_KEY, serial=i) for i, p in enumerate(baseline_pool)]
    runs = {
        "baseline-16": load(
            server,
            "api-baseline-16",
            [(f"/{BASELINE_PATH}", baseline_bodies[i % len(baseline_bodies)], "baseline") for i in range(needed)],
            concurrency=16,
            seconds=seconds,
        ),
        "orders-16": load(server, "api-orders-16", [order(i) for i in range(needed)], concurrency=16, seconds=seconds),
        "balance-16": load(
            server, "api-balance-16", [balance() for _ in range(needed)], concurrency=16, seconds=seconds
        ),
    }
    for name, run in runs.items():
        print(
            f"  {name}: {run['rps']:.0f} req/s p50 {run['p50']:.1f} p95 {run['p95']:.1f} "
            f"p99 {run['p99']:.1f} ms, errors {run['errors']} {run['error_kinds']}",
            flush=True,
        )
    return runs


def scenario_endtoend(server: Server, people: data.People, seconds: float) -> dict:
    """Deliveries at 16 connections, settled by one Celery worker on this machine: first request to last settlement."""
    needed = int(seconds * RATE_CAP)
    pool = data.orders_in_bulk(people, needed, seed=90)
    first = _next_event_id()
    run = load(server, "endtoend-16", _deliveries(pool), concurrency=16, seconds=seconds)
    settle_all()
    run.update(settled_since(first))
    print(
        f"  end to end: {run['settled']} settled in {run['span_seconds']:.1f} s = {run['settled_per_second']:.0f}/s, "
        f"settle lag p50 {run['lag_p50']:.2f} s p99 {run['lag_p99']:.2f} s, unsettled {run['unsettled']}",
        flush=True,
    )
    return run


PACED_MULTIPLES = (1.0, 1.25, 1.5, 2.0)
"""End-to-end runs offered these multiples of the bare view's rate: the settle lag where the settler can keep up."""


def scenario_endtoend_paced(server: Server, people: data.People, seconds: float, bare_rps: float) -> list[dict]:
    """Deliveries offered at fixed rates (multiples of the bare view's), settled by the worker: the lag at each.

    The 16-connection run offers as many deliveries as the web tier answers, more than one
    settler settles once acknowledging is the cheaper, so its lag grows with the run's length.
    Paced, a rate the settler keeps up with shows a lag that does not.
    """
    runs = []
    for multiple in PACED_MULTIPLES:
        rate = bare_rps * multiple
        pool = data.orders_in_bulk(people, int(rate * seconds) + 1, seed=int(91 + multiple * 10))
        first = _next_event_id()
        name = f"endtoend-paced-{multiple:g}x"
        run = load(server, name, _deliveries(pool), concurrency=64, seconds=seconds, rate=rate)
        settle_all()
        run.update(settled_since(first), multiple=multiple, offered_rate=rate)
        print(
            f"  paced at {multiple:g}x the bare view ({rate:.0f}/s): answered {run['rps']:.0f}/s, "
            f"settle lag p50 {run['lag_p50']:.2f} s p99 {run['lag_p99']:.2f} s",
            flush=True,
        )
        runs.append(run)
    return runs


def scenario_sync(people: data.People, seconds: float) -> dict:
    """Baseline and the full pipeline settled in the request, without a broker, at 16 connections."""
    server = Server(env={"CELERY_BROKER_URL": "", "CLICKPESA_WEBHOOK_SETTLE": "inline"})
    needed = int(seconds * RATE_CAP)
    warm = data.orders_in_bulk(people, 400, seed=70)
    baseline_pool = data.orders_in_bulk(people, 2000, seed=71)
    pool = data.orders_in_bulk(people, needed, seed=72)
    runs = {}
    server.start()
    try:
        load(server, "warmup-sync", _deliveries(warm, "warm"), concurrency=16, seconds=10)
        baseline_bodies = [data.payment_received_body(p, CHECKSUM_KEY, serial=i) for i, p in enumerate(baseline_pool)]
        cycle = [(f"/{BASELINE_PATH}", baseline_bodies[i % len(baseline_bodies)], "baseline") for i in range(needed)]
        runs["baseline-16"] = load(server, "sync-baseline-16", cycle, concurrency=16, seconds=seconds)
        runs["webhook-16"] = load(server, "sync-webhook-16", _deliveries(pool), concurrency=16, seconds=seconds)
    finally:
        server.stop()
    for name, run in runs.items():
        print(f"  sync {name}: {run['rps']:.0f} req/s p99 {run['p99']:.1f} ms, errors {run['errors']}", flush=True)
    return runs


def scenario_storm(server: Server, people: data.People) -> dict:
    """1,000 distinct events, each delivered 10 times, shuffled, 32 connections; then the ledger is checked."""
    from django.db.models import Count

    from payments.models import Payment
    from revenue.models import LedgerTransaction

    started = time.monotonic()
    payments = data.orders_through_services(people, 1000, seed=32)
    print(f"  prepared 1,000 orders through the services in {time.monotonic() - started:.0f}s", flush=True)
    bodies = [data.payment_received_body(p, CHECKSUM_KEY, serial=i) for i, p in enumerate(payments)]
    deliveries = [(data.PAYMENTS_PATH, body, str(i)) for i, body in enumerate(bodies) for _ in range(10)]
    random.Random(10).shuffle(deliveries)
    run = load(server, "storm", deliveries, concurrency=32, seconds=300)
    settle_all()

    # A first delivery is acknowledged (accepted; processed when settled in the request).
    first = [r["ms"] for r in run["results"] if r["answer"] in ("accepted", "processed")]
    duplicate = [r["ms"] for r in run["results"] if r["answer"] == "duplicate"]
    ids = [p.pk for p in payments]
    captures = Counter(
        dict(
            LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_CAPTURE, payment_id__in=ids)
            .values("payment_id")
            .annotate(n=Count("id"))
            .values_list("payment_id", "n")
        )
    )
    run.update(
        {
            "first_count": len(first),
            "duplicate_count": len(duplicate),
            "first_p50": percentile(first, 0.5),
            "first_p95": percentile(first, 0.95),
            "duplicate_p50": percentile(duplicate, 0.5),
            "duplicate_p95": percentile(duplicate, 0.95),
            "payments_completed": Payment.objects.filter(pk__in=ids, status=Payment.Status.COMPLETED).count(),
            "double_credits": sum(1 for n in captures.values() if n > 1),
            "missing_credits": sum(1 for pk in ids if captures.get(pk, 0) == 0),
        }
    )
    print(
        f"  storm: {run['rps']:.0f} req/s, first p50 {run['first_p50']:.1f} ms, duplicate p50 "
        f"{run['duplicate_p50']:.1f} ms, double credits {run['double_credits']}",
        flush=True,
    )
    return run


def scenario_payouts(server: Server, people: data.People) -> dict:
    """Mixed payout traffic made by the simulator, sent concurrently; then states are compared with it."""
    from django.test import override_settings

    from clickpesa.client import ClickPesaClient
    from devtools.simulator import PAYOUTS_WEBHOOK_PATH, ClickPesaSimulator
    from payments.services import payment_mark_received
    from revenue.models import Payout
    from revenue.services import payout_request
    from revenue.submission import payout_claim

    count = int(os.environ.get("BENCH_PAYOUTS", "1000"))
    started = time.monotonic()
    creators = people.creators[:count]
    # Each creator earns from one captured payment, then asks for a payout of all of it.
    solo = data.People(creators=creators, buyers=people.buyers)
    for creator, payment in zip(creators, _single_creator_orders(solo), strict=True):
        payment_mark_received(payment, amount=payment.amount, currency=payment.currency)
        payout_request(creator)
    payouts = list(Payout.objects.filter(creator__in=creators).order_by("id"))

    simulator = ClickPesaSimulator(
        key=CHECKSUM_KEY,
        outcome="mixed",
        duplicates=1,
        shuffle=True,
        seed=7,
        balance=sum(p.amount for p in payouts) * 2,
    ).start()
    try:
        # The bench measures our side against a simulator without limits: our limiter steps aside.
        unlimited = {"CLICKPESA_PAYOUT_COOLDOWN_SECONDS": 0, "CLICKPESA_RATE_LIMIT_REQUESTS": 10**9}
        with override_settings(CLICKPESA_BASE_URL=simulator.url, **unlimited), ClickPesaClient() as client:
            for payout in payouts:
                # As the submitter does before it calls ClickPesa: reports about a payout never
                # submitted are held for review, not applied.
                payout_claim(payout.pk)
                client.create_mobile_money_payout(
                    amount=payout.amount,
                    phone_number=payout.method_snapshot["account_number"],
                    currency=payout.currency,
                    order_reference=payout.reference,
                )
        deliveries = simulator.deliver_pending()
        fates = {ref: sim.status for ref, sim in simulator.payouts.items()}
    finally:
        simulator.stop()
    print(
        f"  prepared {len(payouts)} payouts and {len(deliveries)} simulator webhooks in "
        f"{time.monotonic() - started:.0f}s",
        flush=True,
    )
    requests = [
        (PAYOUTS_WEBHOOK_PATH, json.dumps(d.body, ensure_ascii=False, separators=(",", ":")), d.event)
        for d in deliveries
    ]
    run = load(server, "payouts", requests, concurrency=16, seconds=300)
    settle_all()
    expected = {"SUCCESS": "PAID", "REFUNDED": "REFUNDED", "REVERSED": "REVERSED", "FAILED": "PENDING"}
    ours = dict(Payout.objects.filter(pk__in=[p.pk for p in payouts]).values_list("reference", "status"))
    run["events"] = dict(Counter(d.event for d in deliveries))
    run["fates"] = dict(Counter(fates.values()))
    run["state_mismatches"] = sum(1 for ref, fate in fates.items() if ours.get(ref) != expected[fate])
    print(f"  payouts: {run['rps']:.0f} req/s, state mismatches {run['state_mismatches']}", flush=True)
    return run


def _single_creator_orders(people: data.People) -> list:
    from payments.services import LineSpec, order_create, payment_start
    from revenue.models import TransactionType

    rng = random.Random(3)
    payments = []
    for creator in people.creators:
        # Above the payout minimum once the platform fee is taken.
        amount = Decimal(rng.randrange(10_000, 50_000, 500))
        line = LineSpec(creator=creator, transaction_type=TransactionType.MARKETPLACE, amount=amount)
        payments.append(payment_start(order_create(rng.choice(people.buyers), lines=[line], currency=data.CURRENCY)))
    return payments


def audit() -> dict:
    """``manage.py audit_ledger``, timed; its verdict and output."""
    from io import StringIO

    out, err = StringIO(), StringIO()
    started = time.monotonic()
    try:
        call_command("audit_ledger", stdout=out, stderr=err)
        clean = True
    except SystemExit:
        clean = False
    return {"clean": clean, "seconds": time.monotonic() - started, "output": (out.getvalue() + err.getvalue()).strip()}


# ---- report -----------------------------------------------------------------------------------


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except OSError:
        memory_kb = 0
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (pg_version,) = cursor.fetchone()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(memory_kb / 1024 / 1024),
        "python": platform.python_version(),
        "postgresql": pg_version,
        "load_before": os.getloadavg()[0],
    }


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    scenarios = {s.strip() for s in os.environ.get("BENCH_SCENARIOS", DEFAULT_SCENARIOS).split(",") if s.strip()}
    seconds = float(os.environ.get("BENCH_SECONDS", "30"))
    scale = float(os.environ.get("BENCH_SCALE", "0.05"))
    print(f"bench: database {settings.DATABASES['default']['NAME']} (recreated), scenarios {sorted(scenarios)}")
    # Before machine(): on a fresh machine the bench database does not exist until this creates it.
    _recreate_database()
    report: dict = {"machine": machine(), "seconds": seconds, "scale": scale}
    _empty_queue()
    people = data.people_create(creators=1000, buyers=500, prefix="b")
    if "webhooks" in scenarios:
        # First, on a quiet database: after the load runs, autovacuum and checkpoints would share its CPU.
        print("cost of one delivery", flush=True)
        report["delivery_cost"] = delivery_cost(people)
    server = Server()
    report["server"] = server.description
    if scenarios & {"webhooks", "endtoend", "api", "storm", "payouts"}:
        server.start()
        worker = Worker()
        try:
            if "webhooks" in scenarios:
                print("acknowledgements (queued settling, no worker)", flush=True)
                report["webhooks"] = scenario_webhooks(server, people, seconds)
            # From here on one Celery worker settles; it first settles what the acknowledgements left.
            worker.start()
            settle_all()
            if "endtoend" in scenarios:
                print("end to end (one Celery worker settling)", flush=True)
                report["endtoend"] = scenario_endtoend(server, people, seconds)
                if bare := (report.get("webhooks") or {}).get("baseline-16"):
                    report["endtoend_paced"] = scenario_endtoend_paced(server, people, seconds, bare["rps"])
            if "api" in scenarios:
                print("storefront API", flush=True)
                report["api"] = scenario_api(server, people, seconds)
            if "storm" in scenarios:
                print("duplicate storm", flush=True)
                report["storm"] = scenario_storm(server, people)
            if "payouts" in scenarios:
                print("mixed payout traffic", flush=True)
                report["payouts"] = scenario_payouts(server, people)
        finally:
            worker.stop()
            server.stop()
            _empty_queue()
    if "sync" in scenarios:
        print("synchronous (no broker, settled in the request)", flush=True)
        report["sync"] = scenario_sync(people, seconds)
    if scenarios & {"webhooks", "endtoend", "sync", "api", "storm", "payouts"}:
        report["audit_after_http"] = audit()
    if "scale" in scenarios:
        from bench import scale as scale_scenario

        print(f"back-office at scale {scale:g}", flush=True)
        report["scale_run"] = scale_scenario.run(scale)
    from bench.table import render

    table = render(report)
    print()
    print(table)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    slim = {**report}
    for section in ("webhooks", "sync", "api"):
        if section in slim:
            slim[section] = {k: _summary(v) for k, v in slim[section].items()}
    for section in ("endtoend", "storm", "payouts"):
        if section in slim:
            slim[section] = _summary(slim[section])
    if "endtoend_paced" in slim:
        slim["endtoend_paced"] = [_summary(run) for run in slim["endtoend_paced"]]
    (RESULTS / f"bench-{stamp}.json").write_text(json.dumps(slim, indent=2, default=str), encoding="utf-8")
    (RESULTS / "last-table.md").write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
