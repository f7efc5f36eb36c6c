"""Who is calling: an API key in ``Authorization: Api-Key <key>``, its scopes, its rate."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework_api_key.permissions import KeyParser

from .models import Scope, StorefrontKey


class ApiKeyAuthentication(BaseAuthentication):
    """Sets ``request.auth`` to the caller's usable (unrevoked, unexpired) key; no user."""

    parser = KeyParser()

    def authenticate(self, request: Request) -> tuple[None, StorefrontKey] | None:
        key = self.parser.get(request)
        if not key:
            return None  # NotAuthenticated (401) from the permission below
        try:
            api_key = StorefrontKey.objects.get_from_key(key)
        except StorefrontKey.DoesNotExist:
            raise exceptions.AuthenticationFailed("Unknown, revoked or expired API key.") from None
        assert isinstance(api_key, StorefrontKey)
        return None, api_key

    def authenticate_header(self, request: Request) -> str:
        return KeyParser.keyword


class HasScope(BasePermission):
    """``storefront`` may do everything; ``read`` only GET (and HEAD, OPTIONS)."""

    message = "This API key's scopes do not allow this request."

    def has_permission(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if not isinstance(api_key, StorefrontKey):
            raise exceptions.NotAuthenticated("An API key is required: Authorization: Api-Key <key>.")
        if Scope.STOREFRONT in api_key.scopes:
            return True
        return Scope.READ in api_key.scopes and request.method in SAFE_METHODS


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Requests per API key on the shared cache; the rate by scope in ``API_THROTTLE_RATES``."""

    def get_rate(self) -> str | None:
        # Read per request (not at import), so a deployment or a test can change it.
        return settings.API_THROTTLE_RATES.get(self.scope or "")

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        self.scope = Scope.STOREFRONT if Scope.STOREFRONT in getattr(api_key, "scopes", ()) else Scope.READ
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        api_key = request.auth
        return f"api-throttle:{api_key.prefix}" if isinstance(api_key, StorefrontKey) else None


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """How the schema names the API key: ``Authorization: Api-Key <key>``."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`: a key made by `manage.py api_key_create` or in the admin.",
        }
