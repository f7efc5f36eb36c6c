"""Schemathesis against the OpenAPI schema from drf-spectacular: both webhook endpoints, valid and invalid bodies.

Schemathesis generates the cases from ``GET /api/schema/``; they are sent through Django's test
client (inside the test's transaction) and each answer is checked by schemathesis against the
schema: no server error, a documented status code, content type and body shape. Bodies that
follow the schema are unsigned (their checksum is any string), so none may move money.
"""

import json
import time

import pytest
import requests
import schemathesis
from hypothesis import given
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from clickpesa.models import WebhookEvent
from tests.factories import PaymentFactory
from tests.fuzz.conftest import assert_answered_and_kept, encode_any, fuzz_settings, money_state
from tests.webhooks import use_checksum_key

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PATHS = ["/api/payments/webhook", "/api/revenue/payouts/webhook"]


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


@pytest.fixture
def openapi(client):
    response = client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})
    assert response.status_code == 200
    return schemathesis.openapi.from_dict(json.loads(response.content))


def _as_schemathesis_response(case, raw: bytes, response) -> schemathesis.Response:
    request = requests.Request(case.method, f"http://testserver{case.formatted_path}", data=raw).prepare()
    return schemathesis.Response(
        status_code=response.status_code,
        headers={name.lower(): [value] for name, value in response.headers.items()},
        content=response.content,
        request=request,
        elapsed=0.0,
        verify=False,
    )


def test_the_schema_documents_both_webhook_endpoints(client):
    schema = json.loads(client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}).content)

    assert set(PATHS) <= set(schema["paths"])
    for path in PATHS:
        operation = schema["paths"][path]["post"]
        assert set(operation["responses"]) == {"200", "400", "401", "411", "413", "415", "429", "500"}
        assert operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("WebhookEnvelope")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@pytest.mark.parametrize("path", PATHS)
def test_generated_bodies_get_documented_answers_and_move_no_money(client, openapi, path, mode):
    PaymentFactory()
    before = money_state()
    sent = []
    started = time.monotonic()

    @fuzz_settings(max_examples=150)
    @given(case=openapi[path]["POST"].as_strategy(generation_mode=mode))
    def deliver(case):
        raw = encode_any(case.body)
        content_type = case.media_type or "application/json"
        response = client.post(case.formatted_path, data=raw, content_type=content_type, CONTENT_TYPE=content_type)
        sent.append(raw)
        case.validate_response(_as_schemathesis_response(case, raw, response), checks=CHECKS)
        event = assert_answered_and_kept(response, raw)
        assert event.status in (WebhookEvent.Status.REJECTED, WebhookEvent.Status.IGNORED)

    deliver()
    assert money_state() == before
    assert len(sent) >= 120, f"only {len(sent)} distinct cases in {time.monotonic() - started:.0f} s"
