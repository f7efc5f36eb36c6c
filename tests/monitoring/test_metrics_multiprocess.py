"""Under gunicorn with several workers, /metrics sums every worker's counts (PROMETHEUS_MULTIPROC_DIR)."""

import os
import signal
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest
import requests

from tests.celery_worker import wait_for, worker_database_url
from tests.chaos.servers import Gunicorn
from tests.clickpesa.samples import SAMPLE_KEY
from tests.monitoring.conftest import Scrape
from tests.webhooks import encode, sample_body

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BATCH = 20
REJECTED = {"endpoint": "payments", "source": "webhook", "event": "PAYMENT RECEIVED", "outcome": "rejected"}


def _workers(server: Gunicorn) -> set[int]:
    return {child.pid for child in psutil.Process(server.process.pid).children()}


def test_every_scrape_sums_the_counts_of_all_workers_dead_or_alive(tmp_path):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {
        "DATABASE_URL": worker_database_url(),
        "CLICKPESA_CHECKSUM_KEY": SAMPLE_KEY,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    unsigned = encode(sample_body("payment_received"))

    with Gunicorn(tmp_path, env=env, workers=2) as server:

        def deliver(_: int) -> int:
            headers = {"Content-Type": "application/json"}
            return requests.post(
                f"{server.url}/api/payments/webhook", data=unsigned, headers=headers, timeout=30
            ).status_code

        with ThreadPoolExecutor(8) as pool:
            first = list(pool.map(deliver, range(BATCH)))
        # Workers are replaced (a crash, or max_requests): what they counted must not be lost.
        old = _workers(server)
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: len(_workers(server) - old) == 2, what="gunicorn to replace its workers")
        with ThreadPoolExecutor(8) as pool:
            second = list(pool.map(deliver, range(BATCH)))
        scrapes = [Scrape(requests.get(f"{server.url}/metrics", timeout=30).text) for _ in range(4)]

    assert first + second == [401] * (2 * BATCH)
    assert [s.value("blinno_webhooks_total", **REJECTED) for s in scrapes] == [2 * BATCH] * 4
    durations = [
        s.value("blinno_webhook_duration_seconds_count", endpoint="payments", source="webhook") for s in scrapes
    ]
    assert durations == [2 * BATCH] * 4
    assert len(list(metrics_dir.glob("counter_*.db"))) >= 2
