"""The API's one error shape, ``{"error": {"code", "message", "field"}}``, for every refusal.

Every DRF exception and every ``BlinnoError`` a service raises becomes one specific 4xx (a
ClickPesa outage a 502 or 503). The API's views use :func:`exception_handler`; the rest of
the project keeps DRF's default.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from clickpesa.client import ClickPesaError
from core.errors import BlinnoError

# A service's refusal codes that are not "the request cannot be done as it stands" (422).
STATUS_BY_CODE: dict[str, int] = {
    "not_found": status.HTTP_404_NOT_FOUND,
    "idempotency_key_in_progress": status.HTTP_409_CONFLICT,
    "gateway_unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,
}

# DRF's exception classes: their status is right; the code says what kind of mistake it is.
_DRF_CODES: dict[type[exceptions.APIException], str] = {
    exceptions.ParseError: "malformed_json",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "invalid_api_key",
    exceptions.PermissionDenied: "insufficient_scope",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


class ApiError(BlinnoError):
    """A refusal raised by the API layer itself, with its HTTP status and the field it is about."""

    def __init__(self, message: str, *, code: str, status_code: int = 400, field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.status_code = status_code
        self.field = field


def error_response(status_code: int, code: str, message: str, field: str | None = None) -> Response:
    return Response({"error": {"code": code, "message": message, "field": field}}, status=status_code)


def _first_error(detail: Any, path: str = "") -> tuple[str, str, str]:
    """The first leaf of a DRF validation detail: (field path, message, DRF's code)."""
    if isinstance(detail, Mapping):
        name, value = next(iter(detail.items()))
        if name == "non_field_errors":
            return _first_error(value, path)
        if isinstance(name, int):  # a list's item (DRF keys a list's errors by index)
            return _first_error(value, f"{path}[{name}]")
        return _first_error(value, f"{path}.{name}" if path else str(name))
    if isinstance(detail, list):
        for index, item in enumerate(detail):
            if item:  # a list of lines holds an empty dict for every valid one
                return _first_error(item, f"{path}[{index}]" if isinstance(item, dict | list) else path)
        return path, "Invalid value.", "invalid"
    return path, str(detail), getattr(detail, "code", "invalid") or "invalid"


def exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response | None:
    """Turn an exception into the API's error shape; ``None`` (a 500) only for a bug."""
    if isinstance(exc, ApiError):
        return error_response(exc.status_code, exc.code, exc.message, exc.field)
    if isinstance(exc, ClickPesaError):
        return error_response(status.HTTP_502_BAD_GATEWAY, "gateway_error", f"ClickPesa: {exc.message}")
    if isinstance(exc, BlinnoError):
        return error_response(STATUS_BY_CODE.get(exc.code, status.HTTP_422_UNPROCESSABLE_ENTITY), exc.code, exc.message)
    if isinstance(exc, Http404 | ObjectDoesNotExist):
        return error_response(status.HTTP_404_NOT_FOUND, "not_found", "No such resource.")
    if isinstance(exc, exceptions.ValidationError):
        field, message, code = _first_error(exc.detail)
        return error_response(
            status.HTTP_400_BAD_REQUEST, code if code != "invalid" else "invalid_field", message, field or None
        )
    if isinstance(exc, exceptions.APIException):
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "bad_request")
        response = error_response(exc.status_code, code, str(exc.detail))
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            response["Retry-After"] = str(int(exc.wait) + 1)
        if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
            response["WWW-Authenticate"] = "Api-Key"
        return response
    return None
