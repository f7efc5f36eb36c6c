"""Reachability of what the service depends on, and the configuration it cannot work without, for ``GET /healthz``.

Each probe has a short timeout, so a database or broker that hangs makes the check fail
quickly instead of holding a web worker. Results carry no connection strings or error
messages (which can hold host names and passwords), only the error's type, or for the
configuration the setting that is missing.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import load_backend
from kombu import Connection

from clickpesa.checks import check_webhook_signing

PROBE_TIMEOUT_SECONDS = 2
"""How long one probe may take: connecting, then answering."""


@dataclass(frozen=True)
class Probe:
    """One dependency's state: ``ok``, how long the check took, and the error type when it failed."""

    ok: bool
    milliseconds: int
    error: str = ""
    configured: bool = True

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {"ok": self.ok, "ms": self.milliseconds}
        if not self.configured:
            data["configured"] = False
        if self.error:
            data["error"] = self.error
        return data


def database_probe(*, timeout: int = PROBE_TIMEOUT_SECONDS) -> Probe:
    """Open a fresh connection to the default database and run ``SELECT 1``, within ``timeout`` seconds each."""
    started = time.monotonic()
    db = copy.deepcopy(connections.settings[DEFAULT_DB_ALIAS])
    db["OPTIONS"] = {**db.get("OPTIONS", {}), "connect_timeout": timeout}
    # A connection of its own: the request's may be healthy-looking and stale, and this one
    # has a connect timeout (libpq's default is to wait for ever).
    probe = load_backend(db["ENGINE"]).DatabaseWrapper(db, DEFAULT_DB_ALIAS)
    try:
        with probe.cursor() as cursor:
            # set_config, not SET: with server-side binding a SET cannot take a parameter.
            cursor.execute("SELECT set_config('statement_timeout', %s, false)", [str(timeout * 1000)])
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return Probe(False, _since(started), type(exc).__name__)
    finally:
        probe.close()
    return Probe(True, _since(started))


def broker_probe(*, timeout: int = PROBE_TIMEOUT_SECONDS) -> Probe:
    """Connect to the Celery broker and ping it; without a broker (tasks run in-process) there is nothing to reach."""
    url = settings.CELERY_BROKER_URL
    if not url:
        return Probe(True, 0, configured=False)
    started = time.monotonic()
    options = {"socket_connect_timeout": timeout, "socket_timeout": timeout, "max_retries": 0}
    try:
        with Connection(url, connect_timeout=timeout, transport_options=options) as conn:
            channel = conn.default_channel
            client = getattr(channel, "client", None)
            if client is not None:  # Redis: a round trip, not just an open socket
                client.ping()
    except Exception as exc:
        return Probe(False, _since(started), type(exc).__name__)
    return Probe(True, _since(started))


def config_probe() -> Probe:
    """The settings without which the service answers but does not work: a production deployment
    with no CLICKPESA_CHECKSUM_KEY refuses every webhook (the deployment check clickpesa.E001)."""
    if any(message.is_serious() for message in check_webhook_signing()):
        return Probe(False, 0, "CLICKPESA_CHECKSUM_KEY not set")
    return Probe(True, 0)


def _since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def health_check() -> tuple[bool, dict[str, object]]:
    """Probe the configuration, the database and the broker; return whether the service can serve,
    and the JSON report.

    Serving needs the database and the configuration (a replica that refuses every webhook is
    not ready, and the report says why). A broker outage is reported (``"status": "degraded"``)
    but does not make the service unhealthy: webhooks are still received and processed, their
    notifications wait in the outbox for the sweeper, and a load balancer that took every web
    replica out over it would turn a delay into lost deliveries.
    """
    config, database, broker = config_probe(), database_probe(), broker_probe()
    ready = config.ok and database.ok
    status = "ok" if ready and broker.ok else ("degraded" if ready else "unavailable")
    report: dict[str, object] = {
        "status": status,
        "checks": {"config": config.as_json(), "database": database.as_json(), "broker": broker.as_json()},
    }
    return ready, report
