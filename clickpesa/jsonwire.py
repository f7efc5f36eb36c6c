"""The one JSON writer of the gateway: canonical JSON for checksums and dedupe keys, and the
compact JSON of the bodies we send.

Both are written as JavaScript's ``JSON.stringify`` writes them (ClickPesa signs with it): no
whitespace, non-ASCII characters and ``/`` left as they are, lone surrogates escaped. A
``Decimal`` is written as its exact number literal (``51180.00`` -> ``51180``), which is also
how JavaScript prints the double it reads for any amount of up to 15 significant digits.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ARRAY_INDEX = re.compile(r"0|[1-9][0-9]*")
_MAX_ARRAY_INDEX = 2**32 - 2


def canonical_json(value: Any) -> str:
    """ClickPesa's canonical JSON: object keys sorted at every depth (arrays keep their order).

    Keys sort as JavaScript sorts ``Object.keys(o).sort()`` output rebuilt into an object:
    array-index keys first in numeric order, the rest by UTF-16 code units. Floats print as
    JavaScript prints them (``1.0`` -> ``1``). Raises ``TypeError`` for keys that are not
    strings and for values JSON cannot hold.
    """
    out: list[str] = []
    _write(value, out, canonical=True)
    return "".join(out)


_NON_ASCII = re.compile("[^\x00-\x7f]")


def escape_non_ascii(text: str) -> str:
    """JSON text with every non-ASCII character written as ``\\uXXXX`` (lowercase hex, UTF-16 pairs above U+FFFF).

    The serialisation Python's ``json.dumps`` writes by default, which some ClickPesa SDKs sign.
    Outside strings JSON has no non-ASCII characters, so escaping the whole text is exact.
    """
    return _NON_ASCII.sub(lambda match: _utf16_escapes(match.group()), text)


def _utf16_escapes(char: str) -> str:
    units = char.encode("utf-16-be", errors="surrogatepass")
    return "".join(f"\\u{units[i]:02x}{units[i + 1]:02x}" for i in range(0, len(units), 2))


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON in insertion order, each ``Decimal`` as its exact literal.

    A ``float`` raises ``TypeError``: money never travels as one.
    """
    out: list[str] = []
    _write(value, out, canonical=False)
    return "".join(out).encode("utf-8")


def js_number(value: float) -> str:
    """A float as JavaScript's ``Number.prototype.toString`` prints it (NaN and infinities: ``null``)."""
    if not math.isfinite(value):
        return "null"
    if value == 0:
        return "0"
    # repr() gives the shortest digit string that round-trips, the same digits JavaScript picks.
    sign, digit_tuple, exponent = Decimal(repr(value)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent = int(exponent) + len(digit_tuple) - len(digits)
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


def js_key_order(keys: Iterable[str]) -> list[str]:
    """Keys in the order ``JSON.stringify`` emits an object built from ``Object.keys(o).sort()``."""
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


def _string(value: str) -> str:
    # What json.dumps(value, ensure_ascii=False) writes for a string, without building an encoder
    # per call: the webhook receiver writes some sixty strings per delivery.
    quoted = encode_basestring(value)
    # JSON.stringify escapes unpaired surrogates (they cannot be encoded as UTF-8 otherwise).
    return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", quoted)


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"{value} is not a JSON number")
    return format(value.normalize(), "f")


def _write(value: Any, out: list[str], *, canonical: bool) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, Decimal):
        out.append(_decimal(value))
    elif isinstance(value, float):
        if not canonical:
            raise TypeError("floats are not written: money travels as Decimal")
        out.append(js_number(value))
    elif isinstance(value, Mapping):
        keys = js_key_order(value.keys()) if canonical else list(value.keys())
        out.append("{")
        for position, key in enumerate(keys):
            if position:
                out.append(",")
            out.append(_string(str(key)))
            out.append(":")
            _write(value[key], out, canonical=canonical)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _write(item, out, canonical=canonical)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
