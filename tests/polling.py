"""What the polling tests share (tests/payments/test_polling.py, tests/revenue/test_polling.py).

Missed-webhook recovery (clickpesa.polling): ClickPesa's answers applied as poll events. The
simulator drops every webhook in these tests, so only the poller can bring the news; a "late"
webhook is the dropped delivery POSTed to our real endpoint afterwards.

Each test module wraps these in its own three fixtures::

    @pytest.fixture(autouse=True)
    def clickpesa_settings(settings):
        use_simulator_settings(settings)

    @pytest.fixture
    def start(settings):
        with simulators(settings) as start:
            yield start

    @pytest.fixture
    def simulator(start):
        return start()
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import time_machine
from django.core.cache import cache
from django.utils import timezone

from clickpesa.polling import PollSummary
from devtools.simulator import ClickPesaSimulator, Delivery
from payments.polling import poll_payments_due
from revenue.polling import poll_payouts_due

KEY = "poll-checksum-key"
PHONE = "255754000111"
PAYOUTS_AFTER = 30
PAYMENTS_AFTER = 15


def poll_due() -> PollSummary:
    """What Celery beat's two polling tasks do: payments, then payouts."""
    return PollSummary(poll_payments_due().results + poll_payouts_due().results)


def use_simulator_settings(settings: Any) -> None:
    """ClickPesa credentials for the simulator, the polling periods, and a cache of the test's own."""
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    settings.CLICKPESA_CLIENT_ID = "sim-client"
    settings.CLICKPESA_API_KEY = "sim-key"
    settings.CLICKPESA_CHECKSUM_KEY = KEY
    settings.CLICKPESA_POLL_PAYOUTS_AFTER_MINUTES = PAYOUTS_AFTER
    settings.CLICKPESA_POLL_PAYMENTS_AFTER_MINUTES = PAYMENTS_AFTER
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "poll"}}
    cache.clear()


@contextmanager
def simulators(settings: Any) -> Iterator[Callable[..., ClickPesaSimulator]]:
    """Start simulators that drop every webhook, with the given knobs; point our client at the last one."""
    started: list[ClickPesaSimulator] = []

    def start(**knobs: Any) -> ClickPesaSimulator:
        simulator = ClickPesaSimulator(drop_rate=1.0, **knobs).start()
        started.append(simulator)
        settings.CLICKPESA_BASE_URL = simulator.url
        return simulator

    try:
        yield start
    finally:
        for simulator in started:
            simulator.stop()


def minutes_later(minutes: float):
    return time_machine.travel(timezone.now() + timedelta(minutes=minutes))


def queries(simulator: ClickPesaSimulator, reference: str) -> int:
    """How many times ClickPesa was asked about ``reference``."""
    return sum(1 for r in simulator.requests if r.method == "GET" and r.path.endswith(f"/{reference}"))


def dropped(simulator: ClickPesaSimulator, reference: str, status: str) -> Delivery:
    """The webhook the simulator dropped for ``reference`` with that status."""
    return next(
        d for d in simulator.deliveries if d.order_reference == reference and d.body["data"]["status"] == status
    )


def post_late(client, delivery: Delivery, endpoint: str) -> dict:
    """POST a dropped delivery to our real endpoint ("payments" or "payouts"), as a late webhook."""
    path = {"payouts": "/api/revenue/payouts/webhook", "payments": "/api/payments/webhook"}[endpoint]
    response = client.post(path, data=json.dumps(delivery.body), content_type="application/json")
    assert response.status_code == 200
    return response.json()
