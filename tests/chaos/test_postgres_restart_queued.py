"""PostgreSQL restarts while acknowledged webhooks wait to be settled (queued settling).

gunicorn acknowledges a burst of deliveries (stored, committed, answered ``accepted``) while no
settler runs, and PostgreSQL crashes (immediate stop) and recovers in the middle of it: the
events wait RECEIVED through the crash. A real Celery worker started afterwards settles them
from the nudges and the sweep: every acknowledged event is settled exactly once, each payment
captured once, the ledger audit clean. Deliveries answered 5xx during the outage are sent
again, as ClickPesa does.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from clickpesa.checksum import sign
from tests.celery_worker import CeleryWorker, wait_for
from tests.chaos.servers import Gunicorn
from tests.chaos.test_postgres_restart import (  # noqa: F401 - database is a fixture
    PAYMENTS,
    SENDERS,
    _assert_audit_clean,
    _captures,
    _query,
    database,
)
from tests.clickpesa.samples import SAMPLE_KEY
from tests.webhooks import encode, payment_body

pytestmark = pytest.mark.slow


def _statuses(server) -> dict[str, int]:
    return dict(_query(server, "SELECT status, count(*) FROM clickpesa_webhookevent GROUP BY status"))


def test_events_acknowledged_around_a_database_restart_are_each_settled_once_afterwards(database, tmp_path):  # noqa: F811
    server, payments = database
    bodies = {p.reference: encode(sign(payment_body(p), SAMPLE_KEY)) for p in payments}
    worker = CeleryWorker(
        broker_url=os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/4"),
        database_url=server.url("blinno_chaos"),
        workdir=tmp_path / "worker",
    )
    env = {
        "DATABASE_URL": server.url("blinno_chaos"),
        "CLICKPESA_CHECKSUM_KEY": SAMPLE_KEY,
        "CLICKPESA_WEBHOOK_SETTLE": "queued",
        # The nudges wait in the worker's queue until it starts.
        "CELERY_BROKER_URL": worker.broker_url,
        "CELERY_TASK_DEFAULT_QUEUE": worker.queue,
    }
    answers: dict[str, tuple[int, str]] = {}
    recovered = threading.Event()
    last_third = {p.reference for p in payments[2 * PAYMENTS // 3 :]}

    try:
        with Gunicorn(tmp_path, env=env, workers=2) as web:

            def deliver(reference: str) -> int:
                time.sleep(0.1)
                if reference in last_third:
                    recovered.wait(60)
                response = requests.post(
                    f"{web.url}/api/payments/webhook",
                    data=bodies[reference],
                    headers={"Content-Type": "application/json"},
                    timeout=30,
                )
                status = response.json().get("status", "") if response.status_code == 200 else ""
                answers[reference] = (response.status_code, status)
                return response.status_code

            def restart_when_a_third_is_answered() -> None:
                while len(answers) < PAYMENTS // 3:
                    time.sleep(0.01)
                server.stop(mode="immediate")
                time.sleep(1.0)
                server.start()
                recovered.set()

            restarter = threading.Thread(target=restart_when_a_third_is_answered)
            restarter.start()
            with ThreadPoolExecutor(SENDERS) as pool:
                list(pool.map(deliver, [p.reference for p in payments]))
            restarter.join(60)
            failed = sorted(reference for reference, (code, _) in answers.items() if code >= 500)
            replayed = {reference: deliver(reference) for reference in failed}

        acknowledged = {reference for reference, (code, _) in answers.items() if code == 200}
        assert acknowledged == set(bodies), f"answers other than 200 after the replays: {answers}"
        assert {status for _, status in answers.values()} == {"accepted"}
        assert set(replayed.values()) <= {200}
        # Stored durably before the answer, and nothing settled them yet.
        assert _statuses(server) == {"RECEIVED": PAYMENTS}
        assert set(_captures(server).values()) == {0}

        worker.start()
        worker._control.send_task("clickpesa.tasks.webhook_settle", queue=worker.queue)
        wait_for(lambda: _statuses(server) == {"PROCESSED": PAYMENTS}, timeout=60, what="every event settled")
    finally:
        worker.close()

    assert set(_captures(server).values()) == {1}
    assert _query(server, "SELECT DISTINCT attempts FROM clickpesa_webhookevent") == [(1,)]
    _assert_audit_clean(server)
