"""A real Celery worker for delivery and chaos tests: a `celery worker` subprocess on real Redis.

Bring the fixtures into a test module or a conftest.py by importing them:

    from tests.celery_worker import celery_broker_url, celery_publisher, celery_worker  # noqa: F401

    @pytest.mark.slow
    @pytest.mark.django_db(transaction=True)
    def test_it_delivers(celery_worker, celery_publisher):
        ...                                 # write and commit: the worker does the rest
        wait_for(lambda: row_is_sent())     # poll the database for the outcome

- `celery_broker_url` (module): the Redis broker URL; TEST_CELERY_BROKER_URL or
  redis://127.0.0.1:6379/4. Override this fixture to use another Redis database.
- `celery_worker` (module): a started `CeleryWorker` on that broker, pointed at the test
  database (pytest-django's `test_<name>`) and a file-based email backend, consuming only
  its own queue so that parallel test runs sharing a Redis database never take each
  other's tasks. Stopped at the module's end. Tests using it need
  `django_db(transaction=True)`: the worker only sees committed rows.
- `celery_publisher` (function): points this process's Celery app at the worker's broker
  and queue, not eager, and restores the app afterwards. `.use(url)`,
  `.use_unreachable_broker()` and `.use_worker_broker()` switch brokers mid-test.

`CeleryWorker` handles: `.start()`, `.stop()` (warm shutdown), `.kill()` (SIGKILL to the
worker and its pool children), `.restart(kill=False)`, `.is_alive()`, `.ping()`, `.log()`,
`.emails()` / `.clear_emails()` (files written by the email backend), `.purge()` (drop
queued tasks), `.env` (extra environment for the next start, e.g. another EMAIL_BACKEND),
`.queue`, `.node`, `.pid`. A task lost with a killed worker stays in Redis's unacknowledged
set until the transport's visibility timeout (an hour by default); the application's
sweepers are what recover it sooner.

Helpers: `wait_for(condition, timeout=20)` polls until truthy; `worker_database_url()`;
`publishing_to(url)` (publish to another broker, not eagerly, for a block);
`unreachable_broker_url()` (nothing listens: refused at once); `silent_server()` (a port
that accepts and never answers: a hung broker or mail server).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection
from kombu import Exchange, Queue

from blinno.celery import app as celery_app
from blinno.celery import settle_queue
from blinno.devdb import django_url

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/4"
BASE_DIR = Path(settings.BASE_DIR)


def wait_for(condition: Callable[[], Any], *, timeout: float = 20.0, interval: float = 0.1, what: str = "") -> Any:
    """Poll `condition` until it returns something truthy; return that, or fail the test at `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what or condition}")
        time.sleep(interval)


def worker_database_url() -> str:
    """A DATABASE_URL for the database this test session uses (pytest-django's `test_<name>`)."""
    db = connection.settings_dict
    host, port, name = db["HOST"] or "127.0.0.1", db["PORT"] or 5432, db["NAME"]
    if host.startswith("/"):
        return django_url(Path(host), int(port), name)
    user = quote(db["USER"] or "", safe="")
    password = quote(db["PASSWORD"] or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{host}:{port}/{quote(name, safe='')}"


def unreachable_broker_url() -> str:
    """A Redis URL on a local port where nothing listens: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A local TCP port that accepts connections and never answers (a hung broker or mail server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in accepted:
            conn.close()
        server.close()


def _reset_broker_connections(app: Celery) -> None:
    # The app keeps a connection pool for the broker URL it first used; a new URL needs a
    # new pool (Celery does the same after a fork). The old pool is dropped, not closed:
    # kombu's registry of producer pools may hand it out again for the same URL.
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def publishing_to(url: str) -> Iterator[None]:
    """Publish this process's tasks to `url`, not eagerly, then restore the app's broker."""
    conf = celery_app.conf
    saved = (conf.task_always_eager, conf.broker_url)
    with pytest.MonkeyPatch.context() as patch:
        # Celery reads a CELERY_BROKER_URL environment variable before the app's broker_url
        # (CI exports one): left in place, it would take the publishes meant for `url`.
        patch.delenv("CELERY_BROKER_URL", raising=False)
        conf.task_always_eager, conf.broker_url = False, url
        _reset_broker_connections(celery_app)
        try:
            yield
        finally:
            conf.task_always_eager, conf.broker_url = saved
            _reset_broker_connections(celery_app)


class CeleryWorker:
    """One `celery -A blinno worker` subprocess consuming its own queues on `broker_url`."""

    def __init__(
        self,
        *,
        broker_url: str,
        database_url: str,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        pool: str = "solo",
        concurrency: int = 1,
        loglevel: str = "INFO",
    ) -> None:
        self.broker_url = broker_url
        self.database_url = database_url
        self.queue = f"test-{uuid.uuid4().hex[:12]}"
        # The settler's queue and the default one (blinno.celery): this one worker takes both, in that order.
        self.queues = (settle_queue(self.queue), self.queue)
        self.node = f"{self.queue}@{socket.gethostname()}"
        self.email_dir = workdir / "emails"
        self.email_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "worker.log"
        self.env = dict(env or {})
        self.pool = pool
        self.concurrency = concurrency
        self.loglevel = loglevel
        self.process: subprocess.Popen | None = None
        self._control = Celery("test-control", broker=broker_url, set_as_current=False)
        self._control.conf.broker_connection_timeout = 2
        self._control.conf.broker_transport_options = {"socket_connect_timeout": 2, "socket_timeout": 5}

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def _environment(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "blinno.settings",
            "DEBUG": os.environ.get("DEBUG", "true"),
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker_url,
            # Tasks the worker itself enqueues (a sweep, a retry) stay on its own queue.
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(self.email_dir),
            "PYTHONUNBUFFERED": "1",
            # As tests/conftest.py does in process: ClickPesa's limits only where a test sets them (self.env).
            "CLICKPESA_PAYOUT_COOLDOWN_SECONDS": "0",
            "CLICKPESA_RATE_LIMIT_REQUESTS": "1000000000",
            "CLICKPESA_RATE_LIMIT_REDIS_URL": "",
        }
        env.update(self.env)
        return env

    def start(self, *, timeout: float = 60.0) -> CeleryWorker:
        """Start the worker and wait until it says it is ready or answers a ping."""
        if self.is_alive():
            raise RuntimeError(f"worker {self.node} is already running (pid {self.pid})")
        readies_before = self._readies()
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "blinno",
            "worker",
            "--hostname",
            self.node,
            "--queues",
            ",".join(self.queues),
            "--pool",
            self.pool,
            "--concurrency",
            str(self.concurrency),
            "--loglevel",
            self.loglevel,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=self._environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: kill() reaches the pool's children too.
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        # A solo worker that starts on a backlog of tasks may answer no ping until it has worked
        # through them; its "ready." line is written before the first task, so either will do.
        while self._readies() == readies_before and not self.ping():
            if not self.is_alive():
                raise RuntimeError(f"worker exited with {self.process.returncode}:\n{self.log()[-4000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"worker not ready after {timeout:.0f} s:\n{self.log()[-4000:]}")
            time.sleep(0.2)
        return self

    def ping(self, timeout: float = 0.5) -> bool:
        """True when this worker answers a control ping."""
        try:
            replies = self._control.control.ping(destination=[self.node], timeout=timeout)
        except Exception:
            return False
        return any(self.node in reply for reply in replies)

    def _readies(self) -> int:
        """How many times this worker has logged that it is ready (once per start, at INFO)."""
        return self.log().count(f"{self.node} ready.")

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, *, timeout: float = 15.0) -> None:
        """Warm shutdown (SIGTERM: finish the current task); SIGKILL if it takes longer than `timeout`."""
        if not self.is_alive():
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the worker and its children at once, mid-task if it is in one."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def restart(self, *, kill: bool = False, timeout: float = 60.0) -> CeleryWorker:
        """Stop (or kill) and start again on the same queue, broker and database."""
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start(timeout=timeout)

    def log(self) -> str:
        """Everything the worker has logged so far (all its starts)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def emails(self) -> list[Path]:
        """Files written by the file-based email backend: one per connection that sent mail."""
        return sorted(self.email_dir.iterdir())

    def clear_emails(self) -> None:
        for path in self.emails():
            path.unlink()

    def purge(self) -> int:
        """Drop the tasks waiting in this worker's queues; returns how many."""
        with self._control.connection_for_write() as conn:
            return sum(conn.default_channel.queue_purge(queue) or 0 for queue in self.queues)

    def close(self) -> None:
        """Stop the worker and remove its queue, and the tasks a killed worker left unacknowledged, from Redis."""
        self.stop()
        with self._control.connection_for_write() as conn:
            channel = conn.default_channel
            for name in self.queues:
                # Declared here so that this channel knows the queue's binding and deletes it too.
                queue = Queue(name, Exchange(name, type="direct"), routing_key=name)(channel)
                queue.declare()
                queue.delete()
            # Left alone, Redis would put these back on the deleted queues after the visibility timeout.
            client = channel.client
            for tag, payload in client.hgetall(channel.unacked_key).items():
                if json.loads(payload)[2] in self.queues:
                    client.hdel(channel.unacked_key, tag)
                    client.zrem(channel.unacked_index_key, tag)
        self._control.close()


class CeleryPublisher:
    """This process's Celery app, pointed at a broker for the length of one test."""

    def __init__(self, worker: CeleryWorker) -> None:
        self.worker = worker

    def use(self, broker_url: str) -> None:
        """Publish to `broker_url` from now on."""
        celery_app.conf.broker_url = broker_url
        _reset_broker_connections(celery_app)

    def use_worker_broker(self) -> None:
        self.use(self.worker.broker_url)

    def use_unreachable_broker(self) -> str:
        """Publish to a port where nothing listens (a broker that is down); returns its URL."""
        url = unreachable_broker_url()
        self.use(url)
        return url


@pytest.fixture(scope="module")
def celery_broker_url() -> str:
    return os.environ.get("TEST_CELERY_BROKER_URL", DEFAULT_BROKER_URL)


@pytest.fixture(scope="module")
def celery_worker(
    celery_broker_url: str, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    """A real worker on `celery_broker_url` and the test database, shared by the module's tests."""
    with pytest.MonkeyPatch.context() as patch:
        # Celery prefers a CELERY_BROKER_URL environment variable over any app's own
        # broker_url (CI exports one): without this, pings and publishes from this process
        # would go to that broker, not to the worker's.
        patch.delenv("CELERY_BROKER_URL", raising=False)
        worker = CeleryWorker(
            broker_url=celery_broker_url,
            database_url=worker_database_url(),
            workdir=tmp_path_factory.mktemp("celery-worker"),
        )
        try:
            worker.start()
            yield worker
        finally:
            worker.close()


@pytest.fixture
def celery_publisher(celery_worker: CeleryWorker, celery_in_process: None) -> Iterator[CeleryPublisher]:
    """Tasks go to the worker's broker and queue (not run in-process); its outbox starts empty.

    A worker an earlier test left stopped or killed is started again first.
    """
    if not celery_worker.is_alive():
        celery_worker.start()
    conf = celery_app.conf
    saved = (conf.task_always_eager, conf.broker_url, conf.task_default_queue)
    conf.task_always_eager = False
    conf.task_default_queue = celery_worker.queue
    publisher = CeleryPublisher(celery_worker)
    publisher.use_worker_broker()
    celery_worker.clear_emails()
    try:
        yield publisher
    finally:
        conf.task_always_eager, conf.broker_url, conf.task_default_queue = saved
        _reset_broker_connections(celery_app)
