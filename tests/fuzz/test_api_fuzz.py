"""Schemathesis against the storefront API (``GET /api/v1/schema/``): no generated request gets a 5xx.

Every operation is fuzzed with bodies, paths and query strings that follow the schema and with
ones that break it, through Django's test client with a storefront key (a fresh
``Idempotency-Key`` per POST). ClickPesa is the project's simulator, so a card or checkout-link
payment really asks it for a link. Real rows exist for the generated ids to sometimes hit.
"""

import json
import uuid
from urllib.parse import quote, urlencode

import pytest
import schemathesis
from django.core.cache import cache
from hypothesis import given
from schemathesis import GenerationMode
from schemathesis.core import NotSet

from api.models import Scope, StorefrontKey
from devtools.simulator import ClickPesaSimulator
from tests.fuzz.conftest import encode_any, fuzz_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def storefront(client, settings):
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    settings.CLICKPESA_CLIENT_ID, settings.CLICKPESA_API_KEY, settings.CLICKPESA_CHECKSUM_KEY = "c", "k", ""
    settings.API_THROTTLE_RATES = {"storefront": "100000/min", "read": "100000/min"}
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "apifuzz"}}
    cache.clear()
    simulator = ClickPesaSimulator().start()
    settings.CLICKPESA_BASE_URL = simulator.url
    _, key = StorefrontKey.objects.create_key(name="fuzz", scopes=[Scope.STOREFRONT])
    headers = {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
    client.put("/api/v1/people/u-1", {"name": "Buyer"}, content_type="application/json", **headers)
    client.put(
        "/api/v1/people/c-1", {"name": "Creator", "is_creator": True}, content_type="application/json", **headers
    )
    yield headers
    simulator.stop()


def _operations(client):
    response = client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    schema = json.loads(response.content)
    return schemathesis.openapi.from_dict(schema), [
        (path, method.upper()) for path, item in schema["paths"].items() for method in item if method != "parameters"
    ]


def test_the_schema_documents_every_storefront_operation(client):
    _, operations = _operations(client)
    assert len(operations) >= 15  # other endpoints join these
    assert all(path.startswith("/api/v1/") for path, _ in operations)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_generated_request_is_a_server_error(client, storefront, mode):
    schema, operations = _operations(client)
    answered: dict[tuple[str, str], set[int]] = {}
    for path, method in operations:

        @fuzz_settings(max_examples=25)
        @given(case=schema[path][method].as_strategy(generation_mode=mode))
        def send(case):
            method, path = case.method.upper(), case.path
            headers = dict(storefront)
            if method == "POST":
                headers["HTTP_IDEMPOTENCY_KEY"] = str(uuid.uuid4())
            for name, value in (case.headers or {}).items():
                if name.lower() not in ("authorization", "idempotency-key") and value.isascii():
                    headers[f"HTTP_{name.upper().replace('-', '_')}"] = value
            raw = b"" if isinstance(case.body, NotSet) else encode_any(case.body)
            # Percent-encoded as an HTTP client sends them.
            response = client.generic(
                method,
                quote(case.formatted_path, safe="/"),
                data=raw,
                content_type=case.media_type or "application/json",
                QUERY_STRING=urlencode(case.query or {}, doseq=True),
                **headers,
            )
            answered.setdefault((path, method), set()).add(response.status_code)
            assert response.status_code < 500, (method, case.formatted_path, raw[:300], response.content[:300])
            if response.status_code >= 400:
                assert response["Content-Type"] == "application/json", (response.status_code, case.formatted_path)
                assert set(response.json()) == {"error"}, response.content[:300]

        send()
    assert set(answered) == set(operations)
