"""ClickPesa payload checksums: canonical JSON, HMAC-SHA256, verification and signing.

ClickPesa signs a body with HMAC-SHA256 keyed with the merchant's checksum key and puts the
lowercase hex digest in the top-level ``checksum`` field. Two methods exist:

* ``canonical`` (the default): every object's keys sorted at every depth, serialised as
  compact JSON the way JavaScript's ``JSON.stringify`` does, HMAC over the UTF-8 bytes.
* ``legacy`` (``"checksumMethod": "legacy"``): the top-level values, in key order, converted
  with JavaScript's ``String()`` and concatenated. It is undefined for nested values, so a
  legacy checksum over nested data is reported as unverifiable, never valid.

The checksum carries no timestamp or nonce, so it proves origin and integrity, not freshness.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping
from typing import Any

from django.db import models

from .jsonwire import canonical_json, escape_non_ascii, js_key_order, js_number

__all__ = [
    "EXCLUDED_FIELDS",
    "ChecksumMethod",
    "ChecksumResult",
    "UnverifiableChecksum",
    "compute",
    "sign",
    "verify",
]

EXCLUDED_FIELDS = frozenset({"checksum", "checksumMethod"})
"""Top-level fields that are never part of the signed content."""


class ChecksumMethod(models.TextChoices):
    """How a checksum was computed; the wire value of ``checksumMethod``."""

    CANONICAL = "canonical", "Canonical JSON"
    LEGACY = "legacy", "Legacy concatenation"


class ChecksumResult(models.TextChoices):
    """Outcome of checking a body's checksum."""

    VALID = "valid", "Valid"
    INVALID = "invalid", "Invalid"
    MISSING = "missing", "Missing"
    UNVERIFIABLE = "unverifiable", "Unverifiable"
    NOT_CONFIGURED = "not_configured", "Not configured"


class UnverifiableChecksum(ValueError):
    """The legacy method was asked to cover a nested object or array, which it cannot define."""


def _legacy_string(key: str, value: Any) -> str:
    """Convert a top-level value as JavaScript's ``String()`` does, for the legacy method."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return js_number(value)
    if isinstance(value, Mapping | list | tuple):
        raise UnverifiableChecksum(f"legacy checksum cannot cover the nested value of {key!r}")
    raise TypeError(f"cannot use {type(value).__name__} in a legacy checksum")


def _normalise_method(method: str) -> ChecksumMethod:
    try:
        return ChecksumMethod(str(method).strip().lower())
    except ValueError:
        raise ValueError(f"unknown checksum method {method!r}") from None


def _signed_content(payload: Mapping[str, Any], method: ChecksumMethod) -> str:
    content = {key: value for key, value in payload.items() if key not in EXCLUDED_FIELDS}
    if method == ChecksumMethod.LEGACY:
        return "".join(_legacy_string(key, content[key]) for key in js_key_order(content.keys()))
    return canonical_json(content)


def compute(payload: Mapping[str, Any], key: str, method: str = ChecksumMethod.CANONICAL) -> str:
    """Return the lowercase hex HMAC-SHA256 checksum of ``payload`` under ``key``.

    The top-level ``checksum`` and ``checksumMethod`` fields are left out. ``method`` is
    ``"canonical"`` (HMAC of :func:`canonical_json`) or ``"legacy"`` (HMAC of the top-level
    values, in sorted key order, each converted like JavaScript's ``String()`` and joined with
    no separator: strings as they are, integral numbers without ``.0``, ``true``/``false``,
    ``null``). Raises :class:`UnverifiableChecksum` when the legacy method meets a nested
    object or array, and ``ValueError`` for an unknown method or an empty key.
    """
    if not key:
        raise ValueError("checksum key is empty")
    return _hmac(key, _signed_content(payload, _normalise_method(method)))


def _hmac(key: str, content: str) -> str:
    return hmac.new(key.encode("utf-8"), content.encode("utf-8"), hashlib.sha256).hexdigest()


def verify(payload: Mapping[str, Any], key: str, *, provided: str | None = None) -> ChecksumResult:
    """Check the checksum of a parsed body and say how it stands.

    ``provided`` is the checksum to check; it defaults to the body's ``checksum`` field (pass
    it explicitly for a checksum that travelled elsewhere, such as a header). The method comes
    from the body's ``checksumMethod``: absent, null or empty means canonical; ``canonical``
    and ``legacy`` are matched case-insensitively; any other word gives ``INVALID``.

    Returns, in order of precedence: ``NOT_CONFIGURED`` for an empty key; ``MISSING`` when no
    non-empty string checksum is present; ``INVALID`` for an unknown method; ``UNVERIFIABLE``
    for a legacy checksum over nested data (never ``VALID``: an attacker could otherwise pick
    the weaker method); then ``VALID`` or ``INVALID``. Hex case and surrounding whitespace of
    the provided checksum are ignored; comparison is constant-time. A canonical checksum over
    the same JSON with non-ASCII characters escaped is also ``VALID``.
    """
    if not key:
        return ChecksumResult.NOT_CONFIGURED
    if provided is None:
        provided = payload.get("checksum")
    if not isinstance(provided, str) or not provided.strip():
        return ChecksumResult.MISSING

    raw_method = payload.get("checksumMethod")
    if raw_method is None or (isinstance(raw_method, str) and not raw_method.strip()):
        method = ChecksumMethod.CANONICAL
    elif isinstance(raw_method, str):
        try:
            method = _normalise_method(raw_method)
        except ValueError:
            return ChecksumResult.INVALID
    else:
        return ChecksumResult.INVALID

    try:
        expected = compute(payload, key, method)
    except UnverifiableChecksum:
        return ChecksumResult.UNVERIFIABLE
    except TypeError:
        return ChecksumResult.INVALID
    # Bytes, because compare_digest refuses str with non-ASCII characters.
    given = provided.strip().lower().encode("utf-8")
    if hmac.compare_digest(expected.encode("ascii"), given):
        return ChecksumResult.VALID
    if method == ChecksumMethod.CANONICAL:
        # Some SDKs sign the canonical JSON with non-ASCII characters escaped (\u00eb); the
        # content is the same, so that serialisation is accepted too.
        content = _signed_content(payload, method)
        escaped = escape_non_ascii(content)
        if escaped != content and hmac.compare_digest(_hmac(key, escaped).encode("ascii"), given):
            return ChecksumResult.VALID
    return ChecksumResult.INVALID


def sign(payload: Mapping[str, Any], key: str, method: str = ChecksumMethod.CANONICAL) -> dict[str, Any]:
    """Return a shallow copy of ``payload`` carrying a fresh ``checksum``.

    With the legacy method the copy also carries ``"checksumMethod": "legacy"``; with the
    canonical method any ``checksumMethod`` in the input is dropped (canonical is the default).
    Raises like :func:`compute`.
    """
    chosen = _normalise_method(method)
    signed = {name: value for name, value in payload.items() if name not in EXCLUDED_FIELDS}
    signed["checksum"] = compute(signed, key, chosen)
    if chosen == ChecksumMethod.LEGACY:
        signed["checksumMethod"] = ChecksumMethod.LEGACY.value
    return signed
