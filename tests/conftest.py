"""Shared fixtures: real PostgreSQL (pytest-django), Celery run in-process unless a test asks otherwise."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
from celery._state import _set_task_join_will_block
from django.db import connection

from blinno.celery import app as celery_app
from tests.staff import AdminClient, staff


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each transactional test starts from what the migrations wrote (staff groups, their permissions).

    A transactional test empties every table when it ends, and they run last (pytest-django orders
    them so): without a serialized rollback, the next one in the same process would find no
    Finance or Support group, depending on which ran before it.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        fixtures = getattr(item, "fixturenames", ())
        if marker is not None and marker.kwargs.get("transaction"):
            kwargs = {**marker.kwargs, "serialized_rollback": True}
        elif marker is None and ("transactional_db" in fixtures or "live_server" in fixtures):
            kwargs = {"transaction": True, "serialized_rollback": True}
        else:
            continue
        item.add_marker(pytest.mark.django_db(**kwargs), append=False)


@pytest.fixture(autouse=True)
def celery_in_process():
    """Run tasks in-process, as a broker-less deployment does; delivery tests use a real worker."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous
    # An eager task forbids result.get() while it runs by setting a process-wide flag and
    # restoring it after; eager tasks in concurrent threads (run_concurrently) interleave the
    # save and the restore and can leave it set, failing a later test's .get().
    _set_task_join_will_block(False)


WEBHOOK_SETTLE = os.environ.get("TEST_WEBHOOK_SETTLE", "inline")
"""How the suite settles webhooks: "inline" (in the request) or "queued" (acknowledged, then the
settler task; run in-process after the request's commit unless a test starts a real worker).
`make test` runs the money, concurrency, chaos and fuzz tests in both."""


@pytest.fixture(autouse=True)
def _fast_test_settings(settings):
    settings.CLICKPESA_WEBHOOK_SETTLE = WEBHOOK_SETTLE
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # ClickPesa's limits belong to the tests about them (tests/revenue/test_payout_runs.py, tests/clickpesa/
    # test_ratelimit.py); elsewhere the faked ClickPesa answers as fast as it is asked, in this process alone.
    settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS = 0
    settings.CLICKPESA_RATE_LIMIT_REQUESTS = 10**9
    settings.CLICKPESA_RATE_LIMIT_REDIS_URL = ""
    # Factories give every user a password; the production hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests send many refused webhooks from one address; the refusals limit has its own tests.
    settings.CLICKPESA_WEBHOOK_REFUSALS_RATE = "100000/m"


@pytest.fixture
def inline_settling(settings):
    """For a test about the per-event path itself (its queries, its retries, its log line): settle in the request."""
    settings.CLICKPESA_WEBHOOK_SETTLE = "inline"


def run_concurrently(target: Callable[[int], Any], count: int, *, timeout: float = 60) -> list[Any]:
    """Run `target(i)` in `count` threads that start together, each on its own connection.

    Returns each thread's result or the exception it raised, in thread order.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[i] = target(i)
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not any(t.is_alive() for t in threads), "a concurrent worker hung"
    return results


# Staff in the real groups, and their browsers (tests.staff.AdminClient).


@pytest.fixture
def finance_user(db):
    return staff("Finance", username="fiona_finance")


@pytest.fixture
def support_user(db):
    return staff("Support", username="sam_support")


@pytest.fixture
def superuser(db):
    return staff(None, username="root", is_superuser=True)


@pytest.fixture
def finance(finance_user) -> AdminClient:
    return AdminClient(finance_user)


@pytest.fixture
def support(support_user) -> AdminClient:
    return AdminClient(support_user)


@pytest.fixture
def root(superuser) -> AdminClient:
    return AdminClient(superuser)
