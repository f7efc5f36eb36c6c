"""`make serve`: refuses to start on a deployment that fails its checks; once up, /metrics needs its
token, X-Forwarded-Proto is believed only from a named proxy, and the access log keeps no query string."""

from __future__ import annotations

import pytest
import requests

from tests.celery_worker import worker_database_url
from tests.serve import METRICS_TOKEN, Serve

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PHONE = "255754000111"


def refused(tmp_path, **env: str | None) -> str:
    """Run ``make serve`` expecting it to stop before gunicorn starts; return what it printed."""
    server = Serve(tmp_path, worker_database_url(), env=env)
    process = server.launch()
    try:
        code = process.wait(120)
    finally:
        server.stop()
    log = server.log()
    assert code != 0, log
    assert "Booting worker" not in log and "Listening at" not in log
    return log


def test_it_refuses_to_start_without_the_checksum_key(tmp_path):
    log = refused(tmp_path, CLICKPESA_CHECKSUM_KEY=None)
    assert "clickpesa.E001" in log


def test_it_refuses_to_start_with_emails_going_to_the_log_and_metrics_open_to_anyone(tmp_path):
    log = refused(
        tmp_path,
        EMAIL_BACKEND=None,
        EMAIL_FILE_PATH=None,
        EMAIL_ALLOW_UNDELIVERED=None,
        MONITORING_METRICS_TOKEN=None,
    )
    assert "notifications.E001" in log
    assert "monitoring.E001" in log


def test_metrics_need_the_token(tmp_path):
    with Serve(tmp_path, worker_database_url()) as server:
        anonymous = requests.get(f"{server.url}/metrics", timeout=10)
        scraper = requests.get(
            f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
        )

    assert anonymous.status_code == 401
    assert scraper.status_code == 200
    assert "blinno_database_up 1.0" in scraper.text


def test_the_access_log_keeps_paths_but_no_query_string_or_referer(tmp_path):
    with Serve(tmp_path, worker_database_url()) as server:
        requests.get(
            f"{server.url}/admin/revenue/payout/",
            params={"q": PHONE},
            headers={"Referer": f"{server.url}/admin/accounts/user/?q={PHONE}"},
            timeout=10,
            allow_redirects=False,
        )
        requests.get(f"{server.url}/healthz", params={"q": PHONE}, timeout=10)
        server.stop()
        log = server.log()

    assert '"GET /admin/revenue/payout/ HTTP/1.1" 302' in log
    assert '"GET /healthz HTTP/1.1" 200' in log
    assert PHONE not in log


def test_a_client_cannot_claim_https_but_the_named_proxy_can(tmp_path):
    """DEBUG off redirects plain HTTP to HTTPS; X-Forwarded-Proto lifts that only from TRUSTED_PROXY_ADDRESSES."""
    claim = {"X-Forwarded-Proto": "https"}
    production = {"SECURE_SSL_REDIRECT": "true"}
    with Serve(tmp_path / "direct", worker_database_url(), env=production) as server:
        direct = requests.get(f"{server.url}/admin/login/", headers=claim, timeout=10, allow_redirects=False)
    proxied_env = {**production, "TRUSTED_PROXY_COUNT": "1", "TRUSTED_PROXY_ADDRESSES": "127.0.0.1"}
    with Serve(tmp_path / "proxied", worker_database_url(), env=proxied_env) as server:
        proxied = requests.get(f"{server.url}/admin/login/", headers=claim, timeout=10, allow_redirects=False)

    assert direct.status_code == 301 and direct.headers["Location"].startswith("https://")
    assert not proxied.headers.get("Location", "").startswith("https://")
    assert proxied.status_code in (200, 302)
