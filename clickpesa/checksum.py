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
import json
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.db import models

__all__ = [
    "EXCLUDED_FIELDS",
    "ChecksumMethod",
    "ChecksumResult",
    "UnverifiableChecksum",
    "canonical_json",
    "compute",
    "sign",
    "verify",
]

EXCLUDED_FIELDS = frozenset({"checksum", "checksumMethod"})
"""Top-level fields that are never part of the signed content."""

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_MAX_ARRAY_INDEX = 2**32 - 2


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


def _js_number(value: float) -> str:
    """Format a float as JavaScript's ``Number.prototype.toString`` (and so JSON.stringify) does.

    Integral values print without ``.0``; exponent notation is used only below 1e-6 or from
    1e21 up, as in JavaScript. NaN and the infinities become ``null``, as JSON.stringify does.
    """
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"
    # repr() gives the shortest digit string that round-trips, the same digits JavaScript picks.
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    n = exponent + k
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        mantissa = digits[0] + (f".{digits[1:]}" if k > 1 else "")
        text = f"{mantissa}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return ("-" if sign else "") + text


def _js_string(value: str) -> str:
    """Quote a string as JSON.stringify does: non-ASCII kept, lone surrogates escaped."""
    quoted = json.dumps(value, ensure_ascii=False)
    # JSON.stringify escapes unpaired surrogates (they cannot be encoded as UTF-8 otherwise).
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", quoted)


def _js_key_order(keys: Iterable[str]) -> list[str]:
    """Order keys as ``JSON.stringify`` emits an object built from ``Object.keys(o).sort()``.

    JavaScript sorts strings by UTF-16 code units, and any object lists array-index keys
    ("0", "7", "42") first in numeric order, whatever order they were inserted in.
    """
    index_keys: list[str] = []
    other_keys: list[str] = []
    for key in keys:
        if not isinstance(key, str):
            raise TypeError(f"object keys must be strings, not {type(key).__name__}")
        if _ARRAY_INDEX.fullmatch(key) and int(key) <= _MAX_ARRAY_INDEX:
            index_keys.append(key)
        else:
            other_keys.append(key)
    index_keys.sort(key=int)
    other_keys.sort(key=lambda key: key.encode("utf-16-be", "surrogatepass"))
    return index_keys + other_keys


def _serialise(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_js_string(value))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_js_number(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for position, key in enumerate(_js_key_order(value.keys())):
            if position:
                out.append(",")
            out.append(_js_string(key))
            out.append(":")
            _serialise(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _serialise(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot serialise {type(value).__name__} into a checksum")


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` as ClickPesa's canonical JSON.

    Object keys are sorted at every depth (arrays keep their order) and the output is compact
    JSON identical to JavaScript's ``JSON.stringify`` of the sorted object: no whitespace,
    non-ASCII characters and ``/`` left as they are. For string keys and string/int/bool/null
    values this equals ``json.dumps(sorted_obj, separators=(",", ":"), ensure_ascii=False)``.
    Floats print as JavaScript prints them (``1.0`` -> ``1``), so output is deterministic.

    Raises ``TypeError`` for keys that are not strings and for values JSON cannot hold.
    """
    out: list[str] = []
    _serialise(obj, out)
    return "".join(out)


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
        return _js_number(value)
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
        return "".join(_legacy_string(key, content[key]) for key in _js_key_order(content.keys()))
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
    content = _signed_content(payload, _normalise_method(method))
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
    the provided checksum are ignored; comparison is constant-time.
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
