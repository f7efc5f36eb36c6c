"""The base of every API view: key, scope, throttle, the error shape, idempotent POSTs.

A new endpoint subclasses :class:`ApiView` and is added to ``api/urls.py``; nothing else.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.http.response import HttpResponseBase
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .auth import ApiKeyAuthentication, ApiKeyRateThrottle, HasScope
from .errors import exception_handler
from .idempotency import Replay, idempotency_claim, idempotency_finish
from .models import IdempotencyRecord, StorefrontKey


class ApiView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    throttle_classes = [ApiKeyRateThrottle]
    parser_classes = [JSONParser]
    _idempotency: IdempotencyRecord | None = None

    def get_exception_handler(self) -> Any:
        return exception_handler

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """After the key, scope and rate are checked, a POST claims its ``Idempotency-Key``."""
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            assert isinstance(request.auth, StorefrontKey)
            claim = idempotency_claim(request, request.auth)
            if isinstance(claim, Replay):
                raise _Replayed(claim)
            self._idempotency = claim

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        if isinstance(exc, _Replayed):
            response = HttpResponse(exc.replay.body, status=exc.replay.status, content_type="application/json")
            response["Idempotent-Replayed"] = "true"
            return response
        return super().handle_exception(exc)

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        if isinstance(response, Response) and response.exception:
            # Errors are JSON in the one error shape whatever was asked for (a statement's CSV or PDF).
            response.accepted_renderer, response.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        if self._idempotency is not None:
            # Rendered now, so that a replay sends these very bytes.
            response.render()
            idempotency_finish(self._idempotency, status_code=response.status_code, body=response.content.decode())
            self._idempotency = None
        return response


class _Replayed(Exception):
    def __init__(self, replay: Replay) -> None:
        super().__init__("replayed")
        self.replay = replay


class StrictSerializer(serializers.Serializer):
    """A request body: an object whose every key is a known field (``unknown_field`` otherwise)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                # A ValidationError (not ApiError) so that a nested body names its whole path.
                raise serializers.ValidationError(
                    {unknown[0]: [ErrorDetail(f"Unknown field {unknown[0]!r}.", code="unknown_field")]}
                )
        return super().to_internal_value(data)


def validated(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    """The body read by ``serializer_class``; raises the first mistake as a 400."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
