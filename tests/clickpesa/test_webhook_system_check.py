"""The system check that keeps production from accepting unauthenticated webhooks."""

import pytest
from django.core.checks import Error, Warning, run_checks


@pytest.fixture(autouse=True)
def _api_credentials(settings):
    settings.CLICKPESA_CLIENT_ID = "client"
    settings.CLICKPESA_API_KEY = "key"


def _clickpesa_messages():
    return [m for m in run_checks() if m.id and m.id.startswith("clickpesa.")]


def test_it_is_an_error_to_run_without_a_key_with_debug_off(settings):
    settings.DEBUG = False
    settings.CLICKPESA_CHECKSUM_KEY = ""
    settings.CLICKPESA_ALLOW_UNSIGNED_WEBHOOKS = False

    messages = _clickpesa_messages()

    assert [(type(m), m.id) for m in messages] == [(Error, "clickpesa.E001")]
    assert "CLICKPESA_CHECKSUM_KEY" in messages[0].msg


def test_a_key_satisfies_it(settings):
    settings.DEBUG = False
    settings.CLICKPESA_CHECKSUM_KEY = "merchant-key"
    settings.CLICKPESA_ALLOW_UNSIGNED_WEBHOOKS = False

    assert _clickpesa_messages() == []


def test_debug_needs_no_key(settings):
    settings.DEBUG = True
    settings.CLICKPESA_CHECKSUM_KEY = ""
    settings.CLICKPESA_ALLOW_UNSIGNED_WEBHOOKS = False

    assert _clickpesa_messages() == []


def test_explicitly_allowing_unsigned_webhooks_is_a_warning(settings):
    settings.DEBUG = False
    settings.CLICKPESA_CHECKSUM_KEY = ""
    settings.CLICKPESA_ALLOW_UNSIGNED_WEBHOOKS = True

    assert [(type(m), m.id) for m in _clickpesa_messages()] == [(Warning, "clickpesa.W001")]


def test_production_without_api_credentials_is_warned_that_payouts_will_wait(settings):
    settings.DEBUG = False
    settings.CLICKPESA_CHECKSUM_KEY = "merchant-key"
    settings.CLICKPESA_API_KEY = ""

    assert [(type(m), m.id) for m in _clickpesa_messages()] == [(Warning, "clickpesa.W002")]
