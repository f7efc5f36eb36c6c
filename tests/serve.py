"""`make serve` as a test starts it: the production server (gunicorn, its committed config) on a free port.

    with Serve(tmp_path, database_url) as server:   # DEBUG off, a production-like environment
        requests.get(f"{server.url}/healthz")
        server.log()                                 # everything gunicorn and Django printed

The environment is production's (DEBUG off, deploy checks that must pass) except for what a
test on one machine needs: plain HTTP on loopback (no TLS proxy in front, so no HTTPS
redirect), the file email backend chosen explicitly, tasks in-process (no broker).
``env`` overrides any of it; a value of ``None`` removes the variable.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import requests
from django.conf import settings

from tests.chaos.servers import free_port
from tests.clickpesa.samples import SAMPLE_KEY

BASE_DIR = Path(settings.BASE_DIR)
METRICS_TOKEN = "metrics-token-for-tests"


def production_env(workdir: Path, database_url: str) -> dict[str, str]:
    """What a deployment sets, for a server on this machine's loopback."""
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "SECURE_SSL_REDIRECT": "false",
        "CLICKPESA_CHECKSUM_KEY": SAMPLE_KEY,
        "CLICKPESA_CLIENT_ID": "client",
        "CLICKPESA_API_KEY": "key",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(workdir / "emails"),
        "EMAIL_ALLOW_UNDELIVERED": "true",
        "MONITORING_METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "prometheus"),
    }


class Serve:
    """``make serve`` in its own process group; ``start()`` waits until /healthz answers."""

    def __init__(self, workdir: Path, database_url: str, *, env: Mapping[str, str | None] | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.log_path = workdir / f"serve-{self.port}.log"
        self.env = {**production_env(workdir, database_url), **(env or {})}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        inherited = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "REDIS_URL", "DEBUG")}
        merged: dict[str, str | None] = {**inherited, **self.env, "SERVE_ADDR": f"127.0.0.1:{self.port}"}
        return {k: v for k, v in merged.items() if v is not None}

    def launch(self) -> subprocess.Popen:
        """Run ``make serve`` (the virtualenv taken as it is) and return the process, without waiting."""
        (self.workdir / "prometheus").mkdir(exist_ok=True)
        (self.workdir / "emails").mkdir(exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                ["make", "--no-print-directory", "-o", ".venv/.installed", "serve"],
                cwd=BASE_DIR,
                env=self._environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process

    def _answers(self) -> bool:
        try:
            requests.get(f"{self.url}/healthz", timeout=5)
        except requests.RequestException:
            return False
        return True

    def start(self, *, timeout: float = 60) -> Serve:
        process = self.launch()
        deadline = time.monotonic() + timeout
        while not self._answers():
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"make serve did not start:\n{self.log()[-4000:]}")
            time.sleep(0.1)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def __enter__(self) -> Serve:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
