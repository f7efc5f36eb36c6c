"""ClickPesa's error answers become our exceptions, with flags a caller can act on and the raw message."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests
import responses
from django.core.cache import cache

from clickpesa.client import (
    AuthFailed,
    BadResponse,
    ClickPesaClient,
    ClickPesaError,
    ConnectionFailed,
    CoolDown,
    InsufficientBalance,
    InvalidRequest,
    NotFound,
    RateLimited,
    ReferenceAlreadyUsed,
    ServerError,
    Timeout,
)
from core.errors import BlinnoError

BASE = "https://clickpesa.test/third-parties"
CREATE_URL = f"{BASE}/payouts/create-mobile-money-payout"


@pytest.fixture(autouse=True)
def clickpesa_settings(settings):
    settings.CLICKPESA_BASE_URL = BASE
    settings.CLICKPESA_CLIENT_ID = "client-1"
    settings.CLICKPESA_API_KEY = "key-1"
    settings.CLICKPESA_CHECKSUM_KEY = ""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "errors"}}
    cache.clear()
    return settings


@pytest.fixture
def api():
    with responses.RequestsMock() as mock:
        mock.post(f"{BASE}/generate-token", json={"success": True, "token": "Bearer t"})
        yield mock


def _create() -> None:
    ClickPesaClient().create_mobile_money_payout(
        amount=Decimal("50000"), phone_number="255754000111", currency="TZS", order_reference="BLNPO1"
    )


def _create_error(api: responses.RequestsMock, **answer: object) -> ClickPesaError:
    api.post(CREATE_URL, **answer)
    with pytest.raises(ClickPesaError) as caught:
        _create()
    return caught.value


def test_insufficient_balance_is_a_definitive_refusal(api):
    error = _create_error(api, status=400, json={"message": "Insufficient balance: available balance is 1200 TZS"})

    assert type(error) is InsufficientBalance
    assert (error.definitive, error.transient) == (True, False)
    assert error.message == "Insufficient balance: available balance is 1200 TZS"
    assert error.status_code == 400


def test_a_cool_down_carries_its_seconds(api):
    message = "Payout request is already in progress, please retry after 42 seconds"
    error = _create_error(api, status=400, json={"message": message})

    assert type(error) is CoolDown
    assert error.seconds == 42
    assert (error.definitive, error.transient) == (False, True)
    assert error.message == message


def test_a_reused_reference_asks_the_caller_to_look(api):
    message = "Order reference BLNPO1 already used: Create a different reference"
    error = _create_error(api, status=409, json={"message": message})

    assert type(error) is ReferenceAlreadyUsed
    assert (error.definitive, error.transient) == (False, False)
    assert error.message == message


def test_an_invalid_number_is_a_definitive_refusal(api):
    error = _create_error(api, status=400, json={"message": "Invalid / unsupported phone number"})

    assert type(error) is InvalidRequest
    assert (error.definitive, error.transient) == (True, False)
    assert error.message == "Invalid / unsupported phone number"


def test_a_404_on_a_create_call_is_a_definitive_refusal(api):
    error = _create_error(api, status=404, json={"message": "Account has no valid payment method"})

    assert type(error) is NotFound
    assert error.definitive is True


def test_a_403_is_an_auth_failure_without_a_token_refresh(api):
    error = _create_error(api, status=403, json={"message": "Application has no access to PAYOUT API feature."})

    assert type(error) is AuthFailed
    assert error.transient is True
    assert len(api.calls) == 2


def test_a_server_error_is_transient_and_not_retried_by_the_client(api):
    error = _create_error(api, status=502, body="Bad Gateway")

    assert type(error) is ServerError
    assert (error.definitive, error.transient) == (False, True)
    assert (error.message, error.body) == ("Bad Gateway", "Bad Gateway")
    assert len(api.calls) == 2


def test_rate_limiting_is_transient(api):
    error = _create_error(api, status=429, json={"message": "Too many requests"})

    assert type(error) is RateLimited
    assert error.transient is True


def test_a_timeout_is_transient(api):
    error = _create_error(api, body=requests.exceptions.ReadTimeout("read timed out"))

    assert type(error) is Timeout
    assert (error.definitive, error.transient, error.status_code) == (False, True, None)


def test_an_unreachable_server_is_transient(api):
    error = _create_error(api, body=requests.exceptions.ConnectionError("connection refused"))

    assert type(error) is ConnectionFailed
    assert error.transient is True


def test_a_success_status_without_json_is_a_bad_response(api):
    error = _create_error(api, status=200, body="<html>maintenance</html>")

    assert type(error) is BadResponse
    assert error.transient is True


def test_an_invalid_amount_in_an_answer_is_a_bad_response(api):
    error = _create_error(api, json={"id": "P1", "orderReference": "BLNPO1", "amount": "lots"})

    assert type(error) is BadResponse


def test_an_error_without_a_message_is_described_by_its_status(api):
    error = _create_error(api, status=400, body="")

    assert type(error) is InvalidRequest
    assert error.message == "HTTP 400"


def test_every_error_is_a_blinno_error_with_a_stable_code(api):
    error = _create_error(api, status=409, json={"message": "Order reference BLNPO1 already used"})

    assert isinstance(error, BlinnoError)
    assert error.code == "clickpesa_reference_used"
