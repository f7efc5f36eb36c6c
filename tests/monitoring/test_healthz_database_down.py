"""A web process whose database is down answers /healthz with 503 and still serves /metrics."""

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.chaos.servers import Gunicorn, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server_without_database(tmp_path_factory):
    # A port nothing listens on: connecting is refused at once, as with a stopped server.
    url = f"postgres://postgres@127.0.0.1:{free_port()}/blinno"
    with Gunicorn(tmp_path_factory.mktemp("no-db"), env={"DATABASE_URL": url}, workers=1) as server:
        yield server


def test_healthz_answers_503_when_the_database_is_unreachable(server_without_database):
    response = requests.get(f"{server_without_database.url}/healthz", timeout=10)

    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "unavailable"
    assert report["checks"]["database"]["ok"] is False
    assert report["checks"]["database"]["error"] == "OperationalError"


def test_metrics_say_the_database_is_down_instead_of_failing(server_without_database):
    response = requests.get(f"{server_without_database.url}/metrics", timeout=10)

    assert response.status_code == 200
    samples = {s.name: s.value for f in text_string_to_metric_families(response.text) for s in f.samples}
    assert samples["blinno_database_up"] == 0
    assert "blinno_payouts_stuck" not in samples
