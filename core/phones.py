"""Tanzanian mobile numbers: every form people type, read as ClickPesa's ``255XXXXXXXXX``.

``0754 123 456``, ``+255 754-123-456``, ``255754123456`` and ``754123456`` are one number.
The operator comes from the three digits after ``255`` (the TCRA numbering plan's mobile
ranges); a number in no mobile range is refused, since no wallet can receive money there.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import NamedTuple

from core.errors import BlinnoError


class Operator(Enum):
    """A mobile money operator, by the name ClickPesa gives its payout channel."""

    VODACOM = "M-PESA"
    AIRTEL = "AIRTEL MONEY"
    TIGO = "TIGO PESA"
    HALOTEL = "HALOPESA"
    TTCL = "T-PESA"


# Mobile prefixes (the digits after 255) by operator.
_PREFIXES: dict[str, Operator] = {
    "74": Operator.VODACOM,
    "75": Operator.VODACOM,
    "76": Operator.VODACOM,
    "68": Operator.AIRTEL,
    "69": Operator.AIRTEL,
    "78": Operator.AIRTEL,
    "65": Operator.TIGO,
    "67": Operator.TIGO,
    "71": Operator.TIGO,
    "77": Operator.TIGO,
    "61": Operator.HALOTEL,
    "62": Operator.HALOTEL,
    "73": Operator.TTCL,
}

# Spaces, dashes, dots and brackets are how people group digits; nothing else is allowed.
_SEPARATORS = re.compile(r"[\s\-.()]")
_SHAPES = (
    re.compile(r"\+?255([0-9]{9})"),
    re.compile(r"0([0-9]{9})"),
    re.compile(r"([0-9]{9})"),
)


class InvalidPhoneNumber(BlinnoError):
    code = "invalid_phone_number"


class Phone(NamedTuple):
    number: str
    """``255XXXXXXXXX``, as ClickPesa and the database keep it."""
    operator: Operator


def phone_parse(text: str) -> Phone:
    """Read any written form of a Tanzanian mobile number; raise ``InvalidPhoneNumber`` otherwise."""
    compact = _SEPARATORS.sub("", text or "")
    for shape in _SHAPES:
        match = shape.fullmatch(compact)
        if match:
            local = match.group(1)
            break
    else:
        raise InvalidPhoneNumber(f"{text!r} is not a Tanzanian mobile number (e.g. 0754 123 456 or +255 754 123 456).")
    operator = _PREFIXES.get(local[:2])
    if operator is None:
        raise InvalidPhoneNumber(f"{text!r} is in no Tanzanian mobile operator's range.")
    return Phone(number=f"255{local}", operator=operator)


def phone_normalize(text: str) -> str:
    """``phone_parse(text).number``: the ``255XXXXXXXXX`` form, or ``InvalidPhoneNumber``."""
    return phone_parse(text).number
