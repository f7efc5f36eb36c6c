"""GET /healthz says a replica without its checksum key is not ready, and why."""

import pytest

pytestmark = pytest.mark.django_db


def test_without_a_checksum_key_in_production_it_is_unavailable_and_says_why(client, settings):
    settings.DEBUG = False
    settings.CLICKPESA_CHECKSUM_KEY = ""
    settings.CLICKPESA_ALLOW_UNSIGNED_WEBHOOKS = False

    response = client.get("/healthz")

    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "unavailable"
    assert report["checks"]["config"] == {"ok": False, "ms": 0, "error": "CLICKPESA_CHECKSUM_KEY not set"}
    assert report["checks"]["database"]["ok"] is True


def test_with_the_key_the_configuration_is_ok(client, settings):
    settings.DEBUG = False
    settings.CLICKPESA_CHECKSUM_KEY = "merchant-key"

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["checks"]["config"] == {"ok": True, "ms": 0}


def test_unsigned_webhooks_allowed_on_purpose_are_not_a_missing_key(client, settings):
    settings.DEBUG = False
    settings.CLICKPESA_CHECKSUM_KEY = ""
    settings.CLICKPESA_ALLOW_UNSIGNED_WEBHOOKS = True

    assert client.get("/healthz").status_code == 200


def test_a_development_machine_needs_no_key(client, settings):
    settings.DEBUG = True
    settings.CLICKPESA_CHECKSUM_KEY = ""

    assert client.get("/healthz").json()["checks"]["config"]["ok"] is True
