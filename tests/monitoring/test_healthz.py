"""GET /healthz: the database and the broker probed with short timeouts, JSON without secrets."""

import time

import pytest

from tests.celery_worker import silent_server, unreachable_broker_url

pytestmark = pytest.mark.django_db

BROKER = "redis://127.0.0.1:6379/12"


def test_it_answers_200_when_the_database_and_the_broker_answer(client, settings):
    settings.CELERY_BROKER_URL = BROKER

    response = client.get("/healthz")

    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "ok"
    assert report["checks"]["database"]["ok"] is True
    assert report["checks"]["broker"]["ok"] is True
    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"


def test_without_a_broker_tasks_run_in_process_and_it_is_healthy(client, settings):
    settings.CELERY_BROKER_URL = ""

    report = client.get("/healthz").json()

    assert report["status"] == "ok"
    assert report["checks"]["broker"] == {"ok": True, "ms": 0, "configured": False}


def test_a_broker_that_refuses_connections_is_reported_but_does_not_fail_the_check(client, settings):
    settings.CELERY_BROKER_URL = unreachable_broker_url()

    response = client.get("/healthz")

    # Webhooks still work without the broker (the outbox waits): a load balancer must keep this replica.
    assert response.status_code == 200
    report = response.json()
    assert report["status"] == "degraded"
    assert report["checks"]["database"]["ok"] is True
    assert report["checks"]["broker"]["ok"] is False
    assert report["checks"]["broker"]["error"] == "OperationalError"


def test_a_broker_that_never_answers_is_given_up_after_the_timeout(client, settings):
    with silent_server() as port:
        settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
        started = time.monotonic()
        report = client.get("/healthz").json()
        elapsed = time.monotonic() - started

    assert report["checks"]["broker"]["ok"] is False
    assert elapsed < 5, f"the health check took {elapsed:.1f} s with a hung broker"


def test_it_shows_no_password_host_or_key(client, settings):
    settings.CELERY_BROKER_URL = unreachable_broker_url().replace("redis://", "redis://:broker-s3cret@")
    settings.CLICKPESA_CHECKSUM_KEY = "checksum-s3cret"

    text = client.get("/healthz").content.decode()

    for secret in ("broker-s3cret", "checksum-s3cret", settings.SECRET_KEY, "127.0.0.1", "redis://", "postgres"):
        assert secret not in text


def test_it_answers_get_and_head_only(client):
    assert (client.head("/healthz").status_code, client.post("/healthz").status_code) == (200, 405)
