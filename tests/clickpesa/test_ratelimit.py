"""The shared ClickPesa limiter (clickpesa.ratelimit): every call takes a slot from one Redis bucket,
creates one per cool-down; with Redis down requests go on per process and creates wait."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from clickpesa.client import ClickPesaClient, CoolDown
from devtools.simulator import ClickPesaSimulator
from tests.conftest import run_concurrently

PHONE = "255754000111"


@pytest.fixture
def simulator(settings):
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    settings.CLICKPESA_CLIENT_ID = "sim-client"
    settings.CLICKPESA_API_KEY = "sim-key"
    settings.CLICKPESA_CHECKSUM_KEY = "sim-checksum-key"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rl"}}
    cache.clear()
    started: list[ClickPesaSimulator] = []

    def start(**knobs) -> ClickPesaSimulator:
        sim = ClickPesaSimulator(**knobs).start()
        started.append(sim)
        settings.CLICKPESA_BASE_URL = sim.url
        return sim

    yield start
    for sim in started:
        sim.stop()


def _create(client: ClickPesaClient, reference: str) -> None:
    client.create_mobile_money_payout(amount="5000", phone_number=PHONE, currency="TZS", order_reference=reference)


def test_threads_with_their_own_clients_share_one_bucket_and_clickpesa_never_refuses(simulator, settings):
    sim = simulator(rate_limit=6, rate_window=1.0)
    settings.CLICKPESA_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:6379/7"
    # Half of what ClickPesa allows: our slots are spaced right, but on a busy machine a thread's
    # request can reach the simulator late and land in the next window with the others.
    settings.CLICKPESA_RATE_LIMIT_REQUESTS = 3
    settings.CLICKPESA_RATE_WINDOW_SECONDS = 1.0

    def calls(_: int) -> int:
        with ClickPesaClient() as client:
            for _ in range(4):
                client.balance()
        return 4

    assert run_concurrently(calls, 4) == [4, 4, 4, 4]
    assert sim.refusals == []
    assert len([r for r in sim.requests if r.path == "/account/balance"]) == 16


def test_a_second_create_within_the_cool_down_is_refused_here_without_a_request(simulator, settings):
    sim = simulator()
    settings.CLICKPESA_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:6379/7"
    settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS = 60
    with ClickPesaClient() as client:
        _create(client, "BLNPORL1")
        with pytest.raises(CoolDown) as refused:
            _create(client, "BLNPORL2")
    assert refused.value.seconds >= 55
    assert [r.body["orderReference"] for r in sim.requests if r.path.startswith("/payouts/create")] == ["BLNPORL1"]


def test_a_cool_down_answer_from_clickpesa_holds_every_create(simulator, settings):
    sim = simulator(merchant_cooldown=30)
    settings.CLICKPESA_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:6379/7"
    settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS = 0.001  # we were told wrong: ClickPesa's answer corrects us
    with ClickPesaClient() as first, ClickPesaClient() as second:
        _create(first, "BLNPORL3")
        with pytest.raises(CoolDown):
            _create(first, "BLNPORL4")  # ClickPesa refuses: retry after 30 seconds
        with pytest.raises(CoolDown, match="nothing was sent"):
            _create(second, "BLNPORL5")  # held here, for every client
    assert len(sim.refusals) == 1


def test_with_redis_down_requests_go_on_and_creates_wait(simulator, settings):
    sim = simulator()
    settings.CLICKPESA_RATE_LIMIT_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS = 60
    with ClickPesaClient() as client:
        assert client.balance()
        with pytest.raises(CoolDown, match="nothing was sent"):
            _create(client, "BLNPORL6")
    assert not [r for r in sim.requests if r.path.startswith("/payouts/create")]
