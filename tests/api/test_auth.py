"""API keys: required, hashed, revocable; scopes decide what a key may do; each key has its rate."""

from io import StringIO

import pytest
from django.core.management import call_command

from api.models import Scope, StorefrontKey
from tests.api.conftest import Api, error, make_key


def test_it_refuses_a_request_without_a_key(db):
    response = Api(None).get("creators/c-1/balance")
    assert response.status_code == 401
    assert error(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Api-Key"


@pytest.mark.parametrize("key", ["nonsense", "abc.def", "", "Bearer x"])
def test_it_refuses_an_unknown_key(db, key):
    response = Api(key or "x.y").get("creators/c-1/balance")
    assert response.status_code == 401
    assert error(response)["code"] == "invalid_api_key"


def test_it_refuses_a_revoked_key(db):
    key = make_key([Scope.STOREFRONT])
    StorefrontKey.objects.update(revoked=True)
    response = Api(key).get("creators/c-1/balance")
    assert response.status_code == 401
    assert error(response)["code"] == "invalid_api_key"


def test_a_read_key_may_get(reader, people):
    assert reader.get("creators/c-1/balance").status_code == 200


def test_a_read_key_may_not_write(reader, people):
    response = reader.post("orders", {"buyer": "u-1", "lines": []})
    assert response.status_code == 403
    assert error(response)["code"] == "insufficient_scope"
    put = reader.put("people/u-9", {"name": "X"})
    assert put.status_code == 403


def test_a_key_without_scopes_may_do_nothing(db, people):
    response = Api(make_key([])).get("creators/c-1/balance")
    assert response.status_code == 403
    assert error(response)["code"] == "insufficient_scope"


def test_it_throttles_per_key(people, settings):
    settings.API_THROTTLE_RATES = {"storefront": "3/min", "read": "3/min"}
    api = Api(make_key([Scope.STOREFRONT], name="busy"))
    statuses = [api.get("creators/c-1/balance").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = api.get("creators/c-1/balance")
    assert error(refused)["code"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0
    # Another key has its own allowance.
    assert Api(make_key([Scope.STOREFRONT], name="other")).get("creators/c-1/balance").status_code == 200


def test_the_command_prints_a_working_key_once(db, people):
    out, err = StringIO(), StringIO()
    call_command("api_key_create", "storefront-web", "--scopes", "read", stdout=out, stderr=err)
    key = out.getvalue().strip()
    stored = StorefrontKey.objects.get(name="storefront-web")
    assert stored.scopes == ["read"]
    assert key not in stored.hashed_key and key.startswith(stored.prefix + ".")
    assert Api(key).get("creators/c-1/balance").status_code == 200


def test_the_schema_and_docs_are_served(db):
    schema = Api(None).client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/orders" in paths and "/api/payments/webhook" not in paths
    assert schema.json()["components"]["securitySchemes"]["ApiKey"]["in"] == "header"
    docs = Api(None).client.get("/api/v1/docs/")
    assert docs.status_code == 200
    # The page's scripts come from this service (drf-spectacular-sidecar), never from a CDN.
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in docs.content
    assert b"https://" not in docs.content
