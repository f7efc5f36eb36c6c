"""An API client with a key in each scope, speaking JSON through Django's test client (real HTTP handling)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from api.models import Scope, StorefrontKey


class Api:
    """Django's test client with an API key, JSON bodies, and a fresh Idempotency-Key per POST."""

    def __init__(self, key: str | None) -> None:
        self.client = Client()
        self.key = key

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        base = {"Authorization": f"Api-Key {self.key}"} if self.key else {}
        return {**base, **(headers or {})}

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.client.get(f"/api/v1/{path}", params or {}, headers=self._headers(headers))

    def post(
        self, path: str, body: Any = None, *, key: str | None = "auto", raw: bytes | None = None, **headers: str
    ) -> Any:
        extra = dict(headers)
        if key == "auto":
            extra["Idempotency-Key"] = str(uuid.uuid4())
        elif key is not None:
            extra["Idempotency-Key"] = key
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.client.post(f"/api/v1/{path}", data, content_type="application/json", headers=self._headers(extra))

    def put(self, path: str, body: Any, **headers: str) -> Any:
        return self.client.put(
            f"/api/v1/{path}", json.dumps(body), content_type="application/json", headers=self._headers(headers)
        )


def make_key(scopes: list[str], name: str = "storefront") -> str:
    _, key = StorefrontKey.objects.create_key(name=name, scopes=scopes)
    return key


@pytest.fixture
def api(db) -> Api:
    return Api(make_key([Scope.STOREFRONT]))


@pytest.fixture
def reader(db) -> Api:
    return Api(make_key([Scope.READ], name="reporting"))


def error(response: Any) -> dict[str, Any]:
    """The error object of a refusal, after checking its shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]


@pytest.fixture
def people(api: Api) -> dict[str, str]:
    """A buyer and two creators (with ledger accounts), by their storefront ids."""
    api.put("people/u-1", {"name": "Baraka Mushi", "email": "baraka@example.com", "phone": "0754 000 001"})
    for n in (1, 2):
        api.put(
            f"people/c-{n}",
            {"name": f"Creator {n}", "email": f"c{n}@example.com", "phone": f"0688 00000{n}", "is_creator": True},
        )
    return {"buyer": "u-1", "creator": "c-1", "other": "c-2"}
