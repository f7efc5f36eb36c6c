"""The ClickPesa token: fetched once, shared through the cache, refreshed once on a 401."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
import responses
import time_machine
from django.core.cache import cache

from clickpesa.client import AuthFailed, ClickPesaClient
from tests.conftest import run_concurrently

BASE = "https://clickpesa.test/third-parties"
TOKEN_URL = f"{BASE}/generate-token"
BALANCE_URL = f"{BASE}/account/balance"


@pytest.fixture(autouse=True)
def clickpesa_settings(settings):
    settings.CLICKPESA_BASE_URL = BASE
    settings.CLICKPESA_CLIENT_ID = "client-1"
    settings.CLICKPESA_API_KEY = "key-1"
    settings.CLICKPESA_CHECKSUM_KEY = ""
    settings.CLICKPESA_TIMEOUT_SECONDS = 5.0
    settings.CLICKPESA_TOKEN_CACHE_SECONDS = 3300
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "token"}}
    cache.clear()
    return settings


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        yield mock


def _token_calls(api: responses.RequestsMock) -> list[responses.Call]:
    return [call for call in api.calls if call.request.url == TOKEN_URL]


def _api_calls(api: responses.RequestsMock) -> list[responses.Call]:
    return [call for call in api.calls if call.request.url != TOKEN_URL]


def test_it_fetches_the_token_with_the_client_id_and_api_key(api):
    api.post(TOKEN_URL, json={"success": True, "token": "Bearer abc"})

    token = ClickPesaClient().token()

    call = api.calls[0]
    assert (call.request.method, call.request.body) == ("POST", None)
    assert call.request.headers["client-id"] == "client-1"
    assert call.request.headers["api-key"] == "key-1"
    assert call.request.req_kwargs["timeout"] == 5.0
    assert token == "Bearer abc"


def test_one_token_serves_many_requests(api):
    api.post(TOKEN_URL, json={"success": True, "token": "Bearer abc"})
    api.get(BALANCE_URL, json=[{"currency": "TZS", "balance": 10}])

    for _ in range(3):
        ClickPesaClient().balance()

    assert len(_token_calls(api)) == 1
    assert [call.request.headers["Authorization"] for call in _api_calls(api)] == ["Bearer abc"] * 3


def test_the_token_is_fetched_again_after_the_cache_time(api, settings):
    settings.CLICKPESA_TOKEN_CACHE_SECONDS = 60
    api.post(TOKEN_URL, json={"success": True, "token": "Bearer first"})
    api.post(TOKEN_URL, json={"success": True, "token": "Bearer second"})
    api.get(BALANCE_URL, json=[])

    with time_machine.travel(time.time(), tick=False) as clock:
        ClickPesaClient().balance()
        clock.shift(61)
        ClickPesaClient().balance()

    assert [call.request.headers["Authorization"] for call in _api_calls(api)] == ["Bearer first", "Bearer second"]


def test_a_401_refreshes_the_token_and_retries_once(api):
    api.post(TOKEN_URL, json={"success": True, "token": "Bearer old"})
    api.post(TOKEN_URL, json={"success": True, "token": "Bearer new"})
    api.get(BALANCE_URL, status=401, json={"message": "Unauthorized"})
    api.get(BALANCE_URL, json=[{"currency": "TZS", "balance": 5}])

    balances = ClickPesaClient().balance()

    assert [call.request.headers["Authorization"] for call in _api_calls(api)] == ["Bearer old", "Bearer new"]
    assert len(_token_calls(api)) == 2
    assert balances[0].balance == Decimal("5")
    assert cache.get(ClickPesaClient()._token_key) == "Bearer new"


def test_a_second_401_is_an_auth_failure_without_more_retries(api):
    api.post(TOKEN_URL, json={"success": True, "token": "Bearer old"})
    api.post(TOKEN_URL, json={"success": True, "token": "Bearer new"})
    api.get(BALANCE_URL, status=401, json={"message": "Unauthorized"})

    with pytest.raises(AuthFailed) as caught:
        ClickPesaClient().balance()

    assert len(_api_calls(api)) == 2
    assert len(_token_calls(api)) == 2
    assert (caught.value.status_code, caught.value.message) == (401, "Unauthorized")


def test_the_retry_resends_the_same_body(api):
    api.post(TOKEN_URL, json={"success": True, "token": "Bearer old"})
    api.post(TOKEN_URL, json={"success": True, "token": "Bearer new"})
    url = f"{BASE}/payouts/create-mobile-money-payout"
    api.post(url, status=401, json={"message": "Unauthorized"})
    api.post(url, json={"id": "P1", "orderReference": "R1", "status": "AUTHORIZED"})

    ClickPesaClient().create_mobile_money_payout(
        amount=Decimal("1000"), phone_number="255712345678", currency="TZS", order_reference="R1"
    )

    first, second = _api_calls(api)
    assert first.request.body == second.request.body
    assert json.loads(second.request.body)["orderReference"] == "R1"


def test_refused_credentials_are_an_auth_failure(api):
    api.post(TOKEN_URL, status=403, json={"message": "Invalid or Expired API-Key"})

    with pytest.raises(AuthFailed, match="Invalid or Expired API-Key"):
        ClickPesaClient().balance()

    assert len(api.calls) == 1


def test_missing_credentials_fail_without_a_request(api, settings):
    settings.CLICKPESA_API_KEY = ""

    with pytest.raises(AuthFailed, match="not configured"):
        ClickPesaClient().balance()

    assert len(api.calls) == 0


def test_a_token_belongs_to_one_base_url(api, settings):
    api.post(TOKEN_URL, json={"success": True, "token": "Bearer abc"})
    other = "https://elsewhere.test"
    api.post(f"{other}/generate-token", json={"success": True, "token": "Bearer other"})

    ClickPesaClient().token()
    settings.CLICKPESA_BASE_URL = other

    assert ClickPesaClient().token() == "Bearer other"


def test_concurrent_callers_fetch_one_token(api):
    """Eight threads with a cold cache: one fetches the token, the others wait for it."""

    def slow_token(request):
        time.sleep(0.3)
        return 200, {}, json.dumps({"success": True, "token": "Bearer shared"})

    api.add_callback(responses.POST, TOKEN_URL, callback=slow_token)

    tokens = run_concurrently(lambda _: ClickPesaClient().token(), 8)

    assert tokens == ["Bearer shared"] * 8
    assert len(_token_calls(api)) == 1


def test_a_waiter_fetches_its_own_token_when_the_lock_holder_is_gone(api, settings):
    """A lock left by a dead process delays a caller by the lock's lifetime, never more."""
    settings.CLICKPESA_TIMEOUT_SECONDS = 0.1
    api.post(TOKEN_URL, json={"success": True, "token": "Bearer mine"})
    client = ClickPesaClient()
    cache.set(client._lock_key, "1", 60)

    started = time.monotonic()
    token = client.token()

    assert token == "Bearer mine"
    assert time.monotonic() - started < 5
    assert len(_token_calls(api)) == 1
