"""ClickPesa's objects as typed values: one parser per object, for webhooks and API answers alike.

Nothing here touches the database or the network. Every rejection is a :class:`PayloadError`
whose message is short, specific and safe to return to the sender (the API client turns it
into ``BadResponse``). Strings are returned as received (trimmed); bounding them for storage
is the model layer's job. docs/clickpesa.md describes the shapes.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import models
from django.utils.dateparse import parse_date, parse_datetime

from core.money import Currency, is_currency

from .checksum import EXCLUDED_FIELDS
from .jsonwire import canonical_json

PAYMENT_RECEIVED = "PAYMENT RECEIVED"
PAYMENT_FAILED = "PAYMENT FAILED"
# ClickPesa sends no webhook when a payment comes back; a query's (or a statement's) REFUNDED or
# REVERSED answer is stored and applied under this name of ours (docs/clickpesa.md).
PAYMENT_REVERSED = "PAYMENT REVERSED"
PAYOUT_INITIATED = "PAYOUT INITIATED"
PAYOUT_REFUNDED = "PAYOUT REFUNDED"
PAYOUT_REVERSED = "PAYOUT REVERSED"
DEPOSIT_RECEIVED = "DEPOSIT RECEIVED"

MAX_INTEGER_DIGITS = 12
"""Amounts with more integer digits than this are rejected as absurd."""

MAX_NESTING = 32
"""Deepest object/array nesting accepted in a body; real webhooks are three levels deep."""

_CENT = Decimal("0.01")
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")
_SHOWN_CHARS = 32


class PayloadError(ValueError):
    """A webhook body or one of its fields is unusable; the message is safe to show the sender."""


class GatewayStatus(models.TextChoices):
    """A payment or payout status as ClickPesa spells it on the wire."""

    SUCCESS = "SUCCESS", "Success"
    SETTLED = "SETTLED", "Settled"
    FAILED = "FAILED", "Failed"
    PENDING = "PENDING", "Pending"
    PROCESSING = "PROCESSING", "Processing"
    AUTHORIZED = "AUTHORIZED", "Authorized"
    ON_HOLD = "ON-HOLD", "On hold"
    REFUNDED = "REFUNDED", "Refunded"
    REVERSED = "REVERSED", "Reversed"


_STATUS_WORDS: dict[str, GatewayStatus] = {
    **{status.value: status for status in GatewayStatus},
    # The lower-case vocabulary of Blinno's old service, compared upper-cased.
    "COMPLETED": GatewayStatus.SUCCESS,
    "PAID": GatewayStatus.SUCCESS,
    "CANCELLED": GatewayStatus.FAILED,
    "REJECTED": GatewayStatus.FAILED,
    "INITIATED": GatewayStatus.PROCESSING,
}


def normalize_status(raw: object) -> GatewayStatus | None:
    """Map a status word to a :class:`GatewayStatus`, or ``None`` when it is not one we know.

    Matching ignores case and surrounding whitespace, and treats ``-``, ``_`` and inner
    whitespace alike (``"ON-HOLD"``, ``"on_hold"`` and ``"on hold"`` are all ``ON_HOLD``).
    Besides the wire words it accepts the old vocabulary: completed/success/paid -> SUCCESS,
    failed/cancelled/rejected -> FAILED, initiated/processing -> PROCESSING. Anything that is
    not a string gives ``None``.
    """
    if not isinstance(raw, str):
        return None
    word = re.sub(r"[\s_-]+", "-", raw.strip()).upper()
    return _STATUS_WORDS.get(word)


def _shown(value: object) -> str:
    """Render a rejected value for an error message, bounded so messages stay short."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _text(value: object) -> str | None:
    """A trimmed non-empty string from a string or integer field, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def _first(data: Mapping[str, Any], *names: str) -> tuple[str, Any]:
    """The first of ``names`` present with a non-null value, as (name, value); else (names[0], None)."""
    for name in names:
        value = data.get(name)
        if value is not None:
            return name, value
    return names[0], None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def parse_money(value: object, field: str, *, allow_zero: bool = False) -> Decimal:
    """Parse an amount into a ``Decimal`` with exactly two decimal places.

    Accepts a decimal string (``"25000"``, ``"20000.00"``; surrounding whitespace ignored),
    an ``int``, a finite ``float`` (read through ``str()``, never binary arithmetic) or a
    finite ``Decimal``. Rejects, with a :class:`PayloadError` naming ``field``: ``None``,
    booleans, other types, exponents, signs other than a leading ``-``, NaN and infinities,
    negative values, zero unless ``allow_zero`` (meant for fees), more than
    :data:`MAX_INTEGER_DIGITS` integer digits, and non-zero digits past the second decimal
    place (``"25000.000"`` is accepted, ``"1.005"`` is not).
    """
    if value is None:
        raise PayloadError(f"missing {field}")
    if isinstance(value, bool):
        raise PayloadError(f"invalid {field} {_shown(value)}")
    if isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_TEXT.fullmatch(text):
            raise PayloadError(f"invalid {field} {_shown(value)}")
        amount = Decimal(text)
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise PayloadError(f"invalid {field} {_shown(value)}")
        amount = Decimal(str(value))
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise PayloadError(f"invalid {field} {_shown(str(value))}")
        amount = value
    else:
        raise PayloadError(f"invalid {field} {_shown(value)}")

    if amount < 0:
        raise PayloadError(f"{field} must not be negative" if allow_zero else f"{field} must be positive")
    if amount == 0:
        if not allow_zero:
            raise PayloadError(f"{field} must be positive")
        return Decimal("0.00")
    if amount.adjusted() >= MAX_INTEGER_DIGITS:
        raise PayloadError(f"{field} is too large")
    try:
        rounded = amount.quantize(_CENT)
    except InvalidOperation:
        raise PayloadError(f"{field} is too large") from None
    if rounded != amount:
        raise PayloadError(f"{field} has more than 2 decimal places")
    return rounded


def _optional_money(data: Mapping[str, Any], *names: str, allow_zero: bool = False) -> Decimal | None:
    name, value = _first(data, *names)
    if value is None:
        return None
    return parse_money(value, name, allow_zero=allow_zero)


def _currency(data: Mapping[str, Any], *names: str) -> str | None:
    """The currency, upper-cased, or ``None`` when absent; one Blinno does not handle is refused
    (it would fail a three-letter column, or open ledger accounts in it)."""
    name, value = _first(data, *names)
    text = _text(value)
    if not text:
        return None
    code = text.upper()
    if not is_currency(code):
        raise PayloadError(f"unsupported {name} {_shown(value)}: accepted {', '.join(Currency.values)}")
    return code


def _order_reference(data: Mapping[str, Any]) -> str:
    value = data.get("orderReference")
    if value is None or (isinstance(value, str) and not value.strip()):
        raise PayloadError("missing 'orderReference'")
    if not isinstance(value, str):
        raise PayloadError("invalid 'orderReference'")
    return value.strip()


def _check_depth(value: object) -> None:
    """Reject nesting deeper than MAX_NESTING, without recursing."""
    stack: list[tuple[object, int]] = [(value, 1)]
    children: Iterable[object]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_NESTING:
            raise PayloadError("body is nested too deeply")
        stack.extend((child, depth + 1) for child in children)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise PayloadError(f"duplicate key {_shown(key)}")
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            # PostgreSQL text cannot hold NUL (a lookup or an update with one fails), and ClickPesa sends none.
            raise PayloadError(f"NUL character in {_shown(key)}")
        result[key] = value
    return result


@dataclass(frozen=True)
class Envelope:
    """The outer layer of a webhook: ``{"event": ..., "data": {...}, "checksum": ...}``."""

    event: str
    data: dict[str, Any]
    checksum: str | None
    checksum_method: str | None
    body: dict[str, Any]

    @property
    def order_reference(self) -> str | None:
        """``data.orderReference`` trimmed, or ``None`` when absent, empty or not a string."""
        value = self.data.get("orderReference")
        if isinstance(value, str) and value.strip():
            return value.strip()
        return None


def parse_envelope(raw: bytes) -> Envelope:
    """Decode and check a webhook body.

    The body must be UTF-8 JSON holding one object with a non-empty string ``event`` (or, from
    an older documentation version, ``eventType``; ``event`` wins when both are present) and
    an object ``data``. The event name is upper-cased with inner whitespace collapsed to one
    space. ``checksum`` and ``checksumMethod`` are kept when they are strings, else ``None``.

    Raises :class:`PayloadError` for bytes that are not UTF-8, text that is not strict JSON
    (``NaN``/``Infinity`` literals and duplicate keys included), a NUL character in an object's key
    or string value (PostgreSQL text cannot hold one), a top level that is not an
    object, nesting deeper than :data:`MAX_NESTING`, and a missing or malformed event or data.
    """
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("body is not valid UTF-8") from None
    try:
        body = json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_object)
    except PayloadError:
        raise
    except (ValueError, RecursionError):
        raise PayloadError("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise PayloadError("body must be a JSON object")
    _check_depth(body)

    event = body.get("event")
    if event is None:
        event = body.get("eventType")
    if event is None:
        raise PayloadError("missing 'event'")
    if not isinstance(event, str) or not event.strip():
        raise PayloadError("invalid 'event'")
    data = body.get("data")
    if data is None:
        raise PayloadError("missing 'data' object")
    if not isinstance(data, dict):
        raise PayloadError("'data' must be an object")

    checksum = body.get("checksum")
    method = body.get("checksumMethod")
    return Envelope(
        event=" ".join(event.split()).upper(),
        data=data,
        checksum=checksum if isinstance(checksum, str) else None,
        checksum_method=method if isinstance(method, str) else None,
        body=body,
    )


def dedupe_key(body: Mapping[str, Any]) -> str:
    """Identify a delivery: SHA-256 hex of the canonical JSON of ``body`` minus its checksum fields.

    Key order, whitespace and re-signing (a different ``checksum``/``checksumMethod``) do not
    change the key; any change to the signed content does.
    """
    content = {key: value for key, value in body.items() if key not in EXCLUDED_FIELDS}
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def _timestamp(value: object) -> datetime | None:
    """An ISO date-time (or date) as an aware datetime (UTC when it has no offset); else ``None``.

    Lenient on purpose: an odd timestamp must not hide a status (``raw`` keeps it).
    """
    text = _text(value) or ""
    try:
        moment = parse_datetime(text)
        if moment is None and (day := parse_date(text)):
            moment = datetime(day.year, day.month, day.day)
    except ValueError:
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _signed_decimal(value: object, name: str) -> Decimal | None:
    """A number or numeric string as an exact ``Decimal`` of any sign (balances); ``None`` when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise PayloadError(f"invalid {name} {_shown(value)}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise PayloadError(f"invalid {name} {_shown(value)}") from None
    if not amount.is_finite():
        raise PayloadError(f"invalid {name} {_shown(value)}")
    return amount


@dataclass(frozen=True)
class PaymentData:
    """A payment: the ``data`` of a ``PAYMENT RECEIVED``/``PAYMENT FAILED`` webhook, or one item of
    a payment query or USSD-push answer. ``raw`` is the object as ClickPesa sent it."""

    order_reference: str
    gateway_id: str | None
    payment_reference: str | None
    status: GatewayStatus | None
    raw_status: str
    amount: Decimal | None
    currency: str | None
    channel: str | None
    message: str | None
    customer_name: str | None
    customer_email: str | None
    customer_phone: str | None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    charges: Decimal | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def last_changed(self) -> datetime | None:
        return self.updated_at or self.created_at


def parse_payment(data: Mapping[str, Any]) -> PaymentData:
    """Read a payment, in the current or the older documented shape.

    Current fields win over old ones: ``id`` over ``paymentId``, ``collectedAmount`` over
    ``amount``, ``collectedCurrency`` over ``currency``, and ``customer{customerName,
    customerEmail, customerPhoneNumber}`` over ``customer{name, email, phone}`` (a query's
    ``paymentPhoneNumber`` last). The amount is ``None`` when absent (``PAYMENT FAILED``
    carries none); the currency is upper-cased. ``raw_status`` is the status as sent (``""``
    when absent) and ``status`` its normalised form. A reversal's ``message`` (in ``reverse`` or
    ``refund``) wins over the payment's; ``charges`` is what ClickPesa kept for reversing "with charges"
    (``reverse.charges``, else ``reverse.fee``, else ``charges``; zero or absent otherwise).
    Raises :class:`PayloadError` for a missing ``orderReference`` or an invalid amount or charge.
    """
    customer = _mapping(data.get("customer"))
    returned = _mapping(data.get("reverse")) or _mapping(data.get("refund"))
    raw_status = _text(data.get("status")) or ""
    return PaymentData(
        order_reference=_order_reference(data),
        gateway_id=_text(_first(data, "id", "paymentId")[1]),
        payment_reference=_text(data.get("paymentReference")),
        status=normalize_status(raw_status),
        raw_status=raw_status,
        amount=_optional_money(data, "collectedAmount", "amount"),
        currency=_currency(data, "collectedCurrency", "currency"),
        channel=_text(data.get("channel")),
        # A reversal's own message says why the money went back; the payment's says how it came in.
        message=_text(returned.get("message")) or _text(data.get("message")),
        customer_name=_text(_first(customer, "customerName", "name")[1]),
        customer_email=_text(_first(customer, "customerEmail", "email")[1]),
        customer_phone=_text(_first(customer, "customerPhoneNumber", "phone")[1])
        or _text(data.get("paymentPhoneNumber")),
        created_at=_timestamp(data.get("createdAt")),
        updated_at=_timestamp(data.get("updatedAt")),
        charges=_optional_money(returned, "charges", "fee", allow_zero=True)
        or _optional_money(data, "charges", allow_zero=True),
        raw=dict(data),
    )


@dataclass(frozen=True)
class PayoutData:
    """A payout: the ``data`` of a ``PAYOUT ...`` webhook, or a create or query answer.
    ``amount`` includes ``fee`` when the merchant bears it; ``raw`` is the object as sent."""

    order_reference: str
    gateway_id: str | None
    status: GatewayStatus | None
    raw_status: str
    amount: Decimal | None
    fee: Decimal | None
    currency: str | None
    channel: str | None
    channel_provider: str | None
    reason: str | None
    returned_at: str | None
    reversed_with_fee: bool | None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def last_changed(self) -> datetime | None:
        return self.updated_at or self.created_at


def _flag(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    return None


def parse_payout(data: Mapping[str, Any]) -> PayoutData:
    """Read a payout.

    ``amount`` must be positive when present; ``fee`` may be zero. ``reason`` is
    ``refund.message``, else ``reverse.message``, else ``data.message`` (``notes`` is our own
    description of the payout, not a reason). ``returned_at`` is ``refund.refundedAt`` or
    ``reverse.reversedAt`` as sent, and ``reversed_with_fee`` is ``reverse.reversedWithFee``
    (a boolean or the words true/false), ``None`` when absent. Raises :class:`PayloadError`
    for a missing ``orderReference`` or an invalid amount or fee.
    """
    refund = _mapping(data.get("refund"))
    reverse = _mapping(data.get("reverse"))
    raw_status = _text(data.get("status")) or ""
    return PayoutData(
        order_reference=_order_reference(data),
        gateway_id=_text(data.get("id")),
        status=normalize_status(raw_status),
        raw_status=raw_status,
        amount=_optional_money(data, "amount"),
        fee=_optional_money(data, "fee", allow_zero=True),
        currency=_currency(data, "currency"),
        channel=_text(data.get("channel")),
        channel_provider=_text(data.get("channelProvider")),
        reason=_text(refund.get("message")) or _text(reverse.get("message")) or _text(data.get("message")),
        returned_at=_text(refund.get("refundedAt")) or _text(reverse.get("reversedAt")),
        reversed_with_fee=_flag(reverse.get("reversedWithFee")),
        created_at=_timestamp(data.get("createdAt")),
        updated_at=_timestamp(data.get("updatedAt")),
        raw=dict(data),
    )


@dataclass(frozen=True)
class DepositData:
    """The ``data`` of a ``DEPOSIT RECEIVED`` webhook: a top-up of the merchant's own balance."""

    reference: str
    gateway_id: str | None
    amount: Decimal
    currency: str


def parse_deposit(data: Mapping[str, Any]) -> DepositData:
    """Read a deposit webhook's ``data``.

    ``reference`` is ``paymentReference``, else ``id``; ``amount`` is ``depositAmount``, else
    ``amount``, and must be positive; ``currency`` is ``depositCurrency``, else ``currency``,
    upper-cased, one of :class:`core.money.Currency`. Raises :class:`PayloadError` when any of
    the three is missing or invalid.
    """
    gateway_id = _text(data.get("id"))
    reference = _text(data.get("paymentReference")) or gateway_id
    if reference is None:
        raise PayloadError("missing 'paymentReference'")
    name, value = _first(data, "depositAmount", "amount")
    if value is None:
        raise PayloadError("missing 'depositAmount'")
    amount = parse_money(value, name)
    currency = _currency(data, "depositCurrency", "currency")
    if currency is None:
        raise PayloadError("missing 'depositCurrency'")
    return DepositData(reference=reference, gateway_id=gateway_id, amount=amount, currency=currency)


@dataclass(frozen=True)
class PayoutPreview:
    """The answer to a payout preview. ``amount`` includes ``fee`` when the merchant bears it."""

    amount: Decimal | None
    fee: Decimal | None
    balance: Decimal | None
    channel_provider: str
    fee_bearer: str
    receiver_name: str


def parse_payout_preview(data: Mapping[str, Any]) -> PayoutPreview:
    """Read a payout preview answer (``receiver.accountName`` is the account holder's name)."""
    receiver = _mapping(data.get("receiver"))
    return PayoutPreview(
        amount=_signed_decimal(data.get("amount"), "amount"),
        fee=_signed_decimal(data.get("fee"), "fee"),
        balance=_signed_decimal(data.get("balance"), "balance"),
        channel_provider=_text(data.get("channelProvider")) or "",
        fee_bearer=_text(data.get("payoutFeeBearer")) or "",
        receiver_name=_text(receiver.get("accountName")) or "",
    )


@dataclass(frozen=True)
class AccountBalance:
    """The merchant's balance at ClickPesa in one currency."""

    currency: str
    balance: Decimal


def parse_balance(data: Mapping[str, Any]) -> AccountBalance:
    """Read one item of a balance answer."""
    amount = _signed_decimal(data.get("balance"), "balance")
    if amount is None:
        raise PayloadError("missing 'balance'")
    return AccountBalance(currency=(_text(data.get("currency")) or "").upper(), balance=amount)


@dataclass(frozen=True)
class StatementRow:
    """One movement of the merchant's ClickPesa balance. ``entry`` is ``Credit`` or ``Debit``."""

    id: str
    order_reference: str
    date: datetime | None
    description: str
    entry: str
    amount: Decimal
    currency: str
    balance: Decimal | None
    type: str


def parse_statement_row(data: Mapping[str, Any]) -> StatementRow:
    """Read one statement row; amounts may be JSON numbers or strings."""
    amount = _signed_decimal(data.get("amount"), "statement amount")
    if amount is None:
        raise PayloadError("a statement row has no amount")
    return StatementRow(
        id=_text(data.get("id")) or "",
        order_reference=_text(data.get("orderReference")) or "",
        date=_timestamp(data.get("date")),
        description=_text(data.get("description")) or "",
        entry=_text(data.get("entry")) or "",
        amount=amount,
        currency=(_text(data.get("currency")) or "").upper(),
        balance=_signed_decimal(data.get("balance"), "statement balance"),
        type=_text(data.get("type")) or "",
    )


@dataclass(frozen=True)
class Statement:
    """An account statement: the period's totals (when ClickPesa sends them) and its rows."""

    currency: str
    opening_balance: Decimal | None
    closing_balance: Decimal | None
    total_credits: Decimal | None
    total_debits: Decimal | None
    rows: tuple[StatementRow, ...]


def parse_statement(answer: object, *, currency: str) -> Statement:
    """Read a statement answer: ``{accountDetails, transactions}``, or a bare array of rows."""
    details: Mapping[str, Any] = {}
    rows: object = answer
    if isinstance(answer, Mapping):
        details = _mapping(answer.get("accountDetails"))
        rows = answer.get("transactions") or []
    if not isinstance(rows, list) or not all(isinstance(row, Mapping) for row in rows):
        raise PayloadError("the statement's rows are not a list of objects")
    return Statement(
        currency=(_text(details.get("currency")) or "").upper() or currency,
        opening_balance=_signed_decimal(details.get("openingBalance"), "openingBalance"),
        closing_balance=_signed_decimal(details.get("closingBalance"), "closingBalance"),
        total_credits=_signed_decimal(details.get("totalCredits"), "totalCredits"),
        total_debits=_signed_decimal(details.get("totalDebits"), "totalDebits"),
        rows=tuple(parse_statement_row(row) for row in rows),
    )
