"""ClickPesa's HTTP API as Blinno uses it: typed answers, our own exceptions, one cached token.

Every call has a timeout. The token is cached in Django's cache and shared by every process;
one process at a time fetches a new one. A 401 drops the cached token, fetches a fresh one and
repeats the call once. When a checksum key is configured, every request body carries a
``checksum``. Money is parsed into ``Decimal`` and sent as exact decimal literals, never floats.

Errors are :class:`ClickPesaError` subclasses whose ``transient`` and ``definitive`` flags tell
a caller what to do, and whose ``message`` is ClickPesa's own words, fit to store on the payout
or payment. A transient error on a create call leaves its outcome unknown: the request may have
been applied, so query the reference before sending it again.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from django.conf import settings
from django.core.cache import cache
from django.utils.dateparse import parse_date, parse_datetime

from blinno.exceptions import BlinnoError
from clickpesa import checksum
from clickpesa.payloads import GatewayStatus, normalize_status, parse_money

__all__ = [
    "AccountBalance",
    "AuthFailed",
    "BadResponse",
    "ClickPesaClient",
    "ClickPesaError",
    "ConnectionFailed",
    "CoolDown",
    "GatewayPayment",
    "GatewayPayout",
    "InsufficientBalance",
    "InvalidRequest",
    "NotFound",
    "PaymentMethodAvailability",
    "PayoutPreview",
    "RateLimited",
    "ReferenceAlreadyUsed",
    "ServerError",
    "Statement",
    "StatementRow",
    "Timeout",
    "UssdPushPreview",
    "amount_text",
    "encode_json",
]

_COOL_DOWN = re.compile(r"retry after (\d+) seconds?", re.IGNORECASE)
_INSUFFICIENT_BALANCE = re.compile(r"insufficient balance", re.IGNORECASE)
_MESSAGE_CHARS = 500
_BODY_CHARS = 2000
# How long a token refresher may hold the lock beyond its own request timeout, and how often
# the others look for the token it stores.
_LOCK_SLACK_SECONDS = 2.0
_LOCK_POLL_SECONDS = 0.05


# ---- errors ----------------------------------------------------------------------------


class ClickPesaError(BlinnoError):
    """A ClickPesa call that gave no usable answer.

    ``transient``: the same request may succeed later unchanged; retry it with backoff.
    ``definitive``: ClickPesa refused the request for good; nothing was created and sending it
    again cannot help. Neither: the caller must look (a reused reference: query it).
    ``message`` is ClickPesa's message when it sent one, else a description of what happened;
    ``status_code`` is the HTTP status (``None`` when no answer arrived) and ``body`` the
    answer's text, bounded.
    """

    code = "clickpesa_error"
    transient = False
    definitive = False

    def __init__(self, message: str, *, status_code: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class InsufficientBalance(ClickPesaError):
    """400 "Insufficient balance...": the merchant's ClickPesa balance cannot cover the payout."""

    code = "clickpesa_insufficient_balance"
    definitive = True


class CoolDown(ClickPesaError):
    """400 "Payout request is already in progress, please retry after N seconds"; ``seconds`` is N."""

    code = "clickpesa_cool_down"
    transient = True

    def __init__(self, message: str, *, seconds: int, status_code: int | None = None, body: str = "") -> None:
        super().__init__(message, status_code=status_code, body=body)
        self.seconds = seconds


class ReferenceAlreadyUsed(ClickPesaError):
    """409: the ``orderReference`` was used before; for a resubmission that means "query it"."""

    code = "clickpesa_reference_used"


class AuthFailed(ClickPesaError):
    """401/403 even with a fresh token, or no credentials configured.

    A configuration problem to alert on. Nothing was created, so a retry once it is fixed is
    safe: it counts as transient.
    """

    code = "clickpesa_auth_failed"
    transient = True


class InvalidRequest(ClickPesaError):
    """Any other 4xx (an invalid phone number, a bad reference): a definitive refusal."""

    code = "clickpesa_invalid_request"
    definitive = True


class NotFound(InvalidRequest):
    """404: the reference is unknown to ClickPesa (query calls answer an empty list instead)."""

    code = "clickpesa_not_found"


class RateLimited(ClickPesaError):
    """429: too many requests (ClickPesa allows 120 a minute per address)."""

    code = "clickpesa_rate_limited"
    transient = True


class ServerError(ClickPesaError):
    """5xx: ClickPesa failed; the request may or may not have been applied."""

    code = "clickpesa_server_error"
    transient = True


class Timeout(ClickPesaError):
    """No answer within ``CLICKPESA_TIMEOUT_SECONDS``; the request may or may not have been applied."""

    code = "clickpesa_timeout"
    transient = True


class ConnectionFailed(ClickPesaError):
    """ClickPesa could not be reached (DNS, refused or reset connection, TLS)."""

    code = "clickpesa_connection_failed"
    transient = True


class BadResponse(ClickPesaError):
    """A success status with a body that is not the JSON documented; the outcome is unknown."""

    code = "clickpesa_bad_response"
    transient = True


# ---- typed answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentMethodAvailability:
    """One mobile-money operator in a USSD-push preview."""

    name: str
    status: str
    fee: Decimal | None


@dataclass(frozen=True)
class UssdPushPreview:
    """The answer to a USSD-push preview: which operators can take the payment."""

    methods: tuple[PaymentMethodAvailability, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def available(self) -> bool:
        return any(method.status.upper() == "AVAILABLE" for method in self.methods)


@dataclass(frozen=True)
class GatewayPayment:
    """A payment as ClickPesa reports it (USSD-push start or payment query)."""

    id: str
    order_reference: str
    status: GatewayStatus | None
    raw_status: str
    amount: Decimal | None
    currency: str
    channel: str
    payment_reference: str
    message: str
    phone_number: str
    created_at: datetime | None
    updated_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class PayoutPreview:
    """The answer to a payout preview. ``amount`` includes ``fee`` when the merchant bears it."""

    amount: Decimal | None
    fee: Decimal | None
    balance: Decimal | None
    channel_provider: str
    fee_bearer: str
    receiver_name: str
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class GatewayPayout:
    """A payout as ClickPesa reports it (create or query). ``amount`` includes ``fee``."""

    id: str
    order_reference: str
    status: GatewayStatus | None
    raw_status: str
    amount: Decimal | None
    fee: Decimal | None
    currency: str
    channel: str
    channel_provider: str
    created_at: datetime | None
    updated_at: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class AccountBalance:
    """The merchant's balance at ClickPesa in one currency."""

    currency: str
    balance: Decimal


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
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Statement:
    """An account statement: the period's totals (when ClickPesa sends them) and its rows."""

    currency: str
    opening_balance: Decimal | None
    closing_balance: Decimal | None
    total_credits: Decimal | None
    total_debits: Decimal | None
    rows: tuple[StatementRow, ...]


# ---- wire format -----------------------------------------------------------------------


def _number_literal(value: Decimal) -> str:
    """The shortest exact JSON number for ``value`` (``51180.00`` -> ``51180``, ``12.50`` -> ``12.5``)."""
    if not value.is_finite():
        raise ValueError(f"{value} is not a JSON number")
    return format(value.normalize(), "f")


def _write_json(value: Any, out: list[str]) -> None:
    if isinstance(value, Decimal):
        out.append(_number_literal(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for position, (key, item) in enumerate(value.items()):
            if position:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _write_json(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _write_json(item, out)
        out.append("]")
    elif isinstance(value, float):
        raise TypeError("floats are not written: money travels as Decimal")
    else:
        out.append(json.dumps(value, ensure_ascii=False))


def encode_json(value: Any) -> bytes:
    """Serialise ``value`` as compact UTF-8 JSON, each ``Decimal`` as its exact number literal.

    The standard encoder cannot write a ``Decimal`` without going through a float; this writes
    the decimal digits themselves. A ``float`` raises ``TypeError``: money never travels as one.
    """
    out: list[str] = []
    _write_json(value, out)
    return "".join(out).encode("utf-8")


def amount_text(value: Decimal) -> str:
    """An amount as ClickPesa's string fields carry it: ``"25000"``, or ``"12500.50"`` with cents."""
    if value == value.to_integral_value():
        return str(int(value))
    return f"{value:.2f}"


def _checked_amount(value: Decimal | int | str) -> Decimal:
    """An outgoing amount: positive, at most two decimal places (raises ``ValueError`` otherwise)."""
    if isinstance(value, float):
        raise TypeError("amounts must be Decimal, int or str, never float")
    return parse_money(value, "amount")


def _text(value: object) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return str(value).strip()


def _decimal(value: object, name: str) -> Decimal | None:
    """A number or numeric string from an answer as an exact ``Decimal``; ``None`` when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise BadResponse(f"ClickPesa sent an invalid {name}: {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise BadResponse(f"ClickPesa sent an invalid {name}: {value!r}") from None
    if not amount.is_finite():
        raise BadResponse(f"ClickPesa sent an invalid {name}: {value!r}")
    return amount


def _timestamp(value: object) -> datetime | None:
    """An ISO date-time (or date) from an answer, aware (UTC when it has no offset); else ``None``.

    Lenient on purpose: an odd timestamp must not hide a payout's status (``raw`` keeps it).
    """
    text = _text(value)
    try:
        moment = parse_datetime(text)
        if moment is None and (day := parse_date(text)):
            moment = datetime(day.year, day.month, day.day)
    except ValueError:
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _objects(answer: Any, what: str) -> list[Mapping[str, Any]]:
    """The objects of an answer documented as an array (a lone object is read as one item)."""
    items = [answer] if isinstance(answer, Mapping) else answer
    if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
        raise BadResponse(f"ClickPesa's {what} answer is not a list of objects")
    return items


def _object(answer: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(answer, Mapping):
        raise BadResponse(f"ClickPesa's {what} answer is not an object")
    return answer


def _payment(data: Mapping[str, Any]) -> GatewayPayment:
    raw_status = _text(data.get("status"))
    customer = data.get("customer") if isinstance(data.get("customer"), Mapping) else {}
    return GatewayPayment(
        id=_text(data.get("id")),
        order_reference=_text(data.get("orderReference")),
        status=normalize_status(raw_status),
        raw_status=raw_status,
        amount=_decimal(data.get("collectedAmount", data.get("amount")), "collectedAmount"),
        currency=_text(data.get("collectedCurrency", data.get("currency"))).upper(),
        channel=_text(data.get("channel")),
        payment_reference=_text(data.get("paymentReference")),
        message=_text(data.get("message")),
        phone_number=_text(data.get("paymentPhoneNumber") or customer.get("customerPhoneNumber")),
        created_at=_timestamp(data.get("createdAt")),
        updated_at=_timestamp(data.get("updatedAt")),
        raw=dict(data),
    )


def _payout(data: Mapping[str, Any]) -> GatewayPayout:
    raw_status = _text(data.get("status"))
    return GatewayPayout(
        id=_text(data.get("id")),
        order_reference=_text(data.get("orderReference")),
        status=normalize_status(raw_status),
        raw_status=raw_status,
        amount=_decimal(data.get("amount"), "amount"),
        fee=_decimal(data.get("fee"), "fee"),
        currency=_text(data.get("currency")).upper(),
        channel=_text(data.get("channel")),
        channel_provider=_text(data.get("channelProvider")),
        created_at=_timestamp(data.get("createdAt")),
        updated_at=_timestamp(data.get("updatedAt")),
        raw=dict(data),
    )


def _payout_preview(data: Mapping[str, Any]) -> PayoutPreview:
    receiver = data.get("receiver") if isinstance(data.get("receiver"), Mapping) else {}
    return PayoutPreview(
        amount=_decimal(data.get("amount"), "amount"),
        fee=_decimal(data.get("fee"), "fee"),
        balance=_decimal(data.get("balance"), "balance"),
        channel_provider=_text(data.get("channelProvider")),
        fee_bearer=_text(data.get("payoutFeeBearer")),
        receiver_name=_text(receiver.get("accountName")),
        raw=dict(data),
    )


def _statement_row(data: Mapping[str, Any]) -> StatementRow:
    amount = _decimal(data.get("amount"), "statement amount")
    if amount is None:
        raise BadResponse("ClickPesa sent a statement row without an amount")
    return StatementRow(
        id=_text(data.get("id")),
        order_reference=_text(data.get("orderReference")),
        date=_timestamp(data.get("date")),
        description=_text(data.get("description")),
        entry=_text(data.get("entry")),
        amount=amount,
        currency=_text(data.get("currency")).upper(),
        balance=_decimal(data.get("balance"), "statement balance"),
        type=_text(data.get("type")),
        raw=dict(data),
    )


def _error_message(response: requests.Response) -> str:
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, Mapping) else None
    if not isinstance(message, str) or not message.strip():
        message = response.text.strip() or f"HTTP {response.status_code}"
    return message.strip()[:_MESSAGE_CHARS]


def _error_for(response: requests.Response) -> ClickPesaError:
    """Map a failed answer to the exception a caller acts on."""
    status = response.status_code
    message = _error_message(response)
    details = {"status_code": status, "body": response.text[:_BODY_CHARS]}
    if status in (401, 403):
        return AuthFailed(message, **details)
    if status == 409:
        return ReferenceAlreadyUsed(message, **details)
    if status == 404:
        return NotFound(message, **details)
    if status == 408:
        return Timeout(message, **details)
    if status == 429:
        return RateLimited(message, **details)
    if 400 <= status < 500:
        cool_down = _COOL_DOWN.search(message)
        if cool_down:
            return CoolDown(message, seconds=int(cool_down.group(1)), **details)
        if _INSUFFICIENT_BALANCE.search(message):
            return InsufficientBalance(message, **details)
        return InvalidRequest(message, **details)
    if status >= 500:
        return ServerError(message, **details)
    return BadResponse(f"unexpected HTTP {status} from ClickPesa", **details)


# ---- the client ------------------------------------------------------------------------


class ClickPesaClient:
    """ClickPesa's API at ``settings.CLICKPESA_BASE_URL``, with the configured credentials.

    Settings are read when the client is made. A client holds one HTTP session: make one per
    thread (they are cheap) and close it, or use it as a context manager. Method arguments are
    keyword-only; amounts are ``Decimal`` (or ``int``/``str``), never ``float``.
    """

    def __init__(self) -> None:
        self.base_url: str = settings.CLICKPESA_BASE_URL.rstrip("/")
        self.timeout: float = settings.CLICKPESA_TIMEOUT_SECONDS
        self._client_id: str = settings.CLICKPESA_CLIENT_ID
        self._api_key: str = settings.CLICKPESA_API_KEY
        self._checksum_key: str = settings.CLICKPESA_CHECKSUM_KEY
        self._token_seconds: int = settings.CLICKPESA_TOKEN_CACHE_SECONDS
        # A token belongs to one account at one address; switching either must not reuse it.
        scope = hashlib.sha256(f"{self.base_url}\n{self._client_id}".encode()).hexdigest()[:16]
        self._token_key = f"clickpesa:token:{scope}"
        self._lock_key = f"clickpesa:token-lock:{scope}"
        self._session = requests.Session()

    def __enter__(self) -> ClickPesaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._session.close()

    # -- token ---------------------------------------------------------------------------

    def token(self) -> str:
        """The ``Authorization`` value: the cached token, or a new one when none is cached."""
        return cache.get(self._token_key) or self._refresh_token(stale=None)

    def _refresh_token(self, *, stale: str | None) -> str:
        """Get a token other than ``stale``: one caller fetches it, the others wait and reuse it.

        The lock is a cache entry added atomically; it expires on its own if its holder dies.
        A waiter that sees no new token before the holder's time is up fetches one itself:
        a second token costs one API call, a failed payout costs more.
        """
        lock_seconds = self.timeout + _LOCK_SLACK_SECONDS
        deadline = time.monotonic() + lock_seconds
        while time.monotonic() < deadline:
            if cache.add(self._lock_key, "1", timeout=math.ceil(lock_seconds)):
                try:
                    current = cache.get(self._token_key)
                    if current and current != stale:
                        return current
                    return self._fetch_token()
                finally:
                    cache.delete(self._lock_key)
            time.sleep(_LOCK_POLL_SECONDS)
            current = cache.get(self._token_key)
            if current and current != stale:
                return current
        return self._fetch_token()

    def _fetch_token(self) -> str:
        """POST /generate-token and cache the answer's token (it already starts with ``Bearer``)."""
        if not self._client_id or not self._api_key:
            raise AuthFailed("CLICKPESA_CLIENT_ID and CLICKPESA_API_KEY are not configured")
        headers = {"client-id": self._client_id, "api-key": self._api_key, "Accept": "application/json"}
        response = self._send("POST", "/generate-token", headers=headers)
        answer = _object(self._answer(response), "token")
        token = answer.get("token")
        if not isinstance(token, str) or not token.strip():
            raise BadResponse("ClickPesa's token answer has no token", status_code=response.status_code)
        cache.set(self._token_key, token, self._token_seconds)
        return token

    def _forget_token(self, token: str) -> None:
        """Drop ``token`` from the cache unless another caller has already replaced it."""
        if cache.get(self._token_key) == token:
            cache.delete(self._token_key)

    # -- transport -----------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        data: bytes | None = None,
        params: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = f"{self.base_url}{path}"
        try:
            return self._session.request(
                method,
                url,
                headers=dict(headers),
                data=data,
                params=params,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            raise Timeout(f"ClickPesa did not answer {method} {path} within {self.timeout:g} s") from exc
        except requests.RequestException as exc:
            raise ConnectionFailed(f"could not reach ClickPesa for {method} {path}: {exc}") from exc

    @staticmethod
    def _answer(response: requests.Response) -> Any:
        """The decoded JSON of a 2xx answer (numbers as ``Decimal``), else the mapped exception."""
        if not 200 <= response.status_code < 300:
            raise _error_for(response)
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise BadResponse(
                "ClickPesa's answer is not JSON", status_code=response.status_code, body=response.text[:_BODY_CHARS]
            ) from None

    def _body(self, fields: Mapping[str, Any]) -> bytes:
        """The request body, with its ``checksum`` when a checksum key is configured."""
        if not self._checksum_key:
            return encode_json(fields)
        # ClickPesa checks the checksum over the parsed body, where an amount is a JavaScript
        # number: sign exactly what it will read back (amounts have at most 14 significant
        # digits, so a double holds them exactly).
        as_read = json.loads(encode_json(fields))
        return encode_json({**fields, "checksum": checksum.compute(as_read, self._checksum_key)})

    def _call(
        self,
        method: str,
        path: str,
        *,
        fields: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Send an authorised request; on a 401, fetch a fresh token and send it once more."""
        data = self._body(fields) if fields is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        token = self.token()
        response = self._send(method, path, headers={**headers, "Authorization": token}, data=data, params=params)
        if response.status_code == 401:
            self._forget_token(token)
            token = self._refresh_token(stale=token)
            response = self._send(method, path, headers={**headers, "Authorization": token}, data=data, params=params)
        return self._answer(response)

    # -- payments ------------------------------------------------------------------------

    def preview_ussd_push(
        self, *, amount: Decimal | int | str, currency: str, order_reference: str, phone_number: str
    ) -> UssdPushPreview:
        """POST /payments/preview-ussd-push-request: can this phone pay this amount now?"""
        answer = _object(
            self._call(
                "POST",
                "/payments/preview-ussd-push-request",
                fields=self._ussd_fields(
                    amount=amount, currency=currency, order_reference=order_reference, phone_number=phone_number
                ),
            ),
            "USSD-push preview",
        )
        methods = answer.get("activeMethods") or []
        return UssdPushPreview(
            methods=tuple(
                PaymentMethodAvailability(
                    name=_text(method.get("name")),
                    status=_text(method.get("status")),
                    fee=_decimal(method.get("fee"), "fee"),
                )
                for method in _objects(methods, "USSD-push preview")
            ),
            raw=dict(answer),
        )

    def initiate_ussd_push(
        self, *, amount: Decimal | int | str, currency: str, order_reference: str, phone_number: str
    ) -> GatewayPayment:
        """POST /payments/initiate-ussd-push-request: ask the phone's owner to approve the payment."""
        fields = self._ussd_fields(
            amount=amount, currency=currency, order_reference=order_reference, phone_number=phone_number
        )
        answer = self._call("POST", "/payments/initiate-ussd-push-request", fields=fields)
        return _payment(_object(answer, "USSD-push"))

    @staticmethod
    def _ussd_fields(
        *, amount: Decimal | int | str, currency: str, order_reference: str, phone_number: str
    ) -> dict[str, Any]:
        return {
            "amount": amount_text(_checked_amount(amount)),
            "currency": currency,
            "orderReference": order_reference,
            "phoneNumber": phone_number,
        }

    def query_payment(self, *, order_reference: str) -> list[GatewayPayment]:
        """GET /payments/{orderReference}: every payment ClickPesa holds for it; empty when unknown."""
        try:
            answer = self._call("GET", f"/payments/{_path_segment(order_reference)}")
        except NotFound:
            return []
        return [_payment(item) for item in _objects(answer, "payment query")]

    # -- payouts -------------------------------------------------------------------------

    def preview_mobile_money_payout(
        self, *, amount: Decimal | int | str, phone_number: str, currency: str, order_reference: str
    ) -> PayoutPreview:
        """POST /payouts/preview-mobile-money-payout: the fee and whether the balance covers it."""
        fields = self._mobile_fields(
            amount=amount, phone_number=phone_number, currency=currency, order_reference=order_reference
        )
        answer = self._call("POST", "/payouts/preview-mobile-money-payout", fields=fields)
        return _payout_preview(_object(answer, "payout preview"))

    def create_mobile_money_payout(
        self, *, amount: Decimal | int | str, phone_number: str, currency: str, order_reference: str
    ) -> GatewayPayout:
        """POST /payouts/create-mobile-money-payout: send money to a mobile wallet."""
        fields = self._mobile_fields(
            amount=amount, phone_number=phone_number, currency=currency, order_reference=order_reference
        )
        answer = self._call("POST", "/payouts/create-mobile-money-payout", fields=fields)
        return _payout(_object(answer, "create payout"))

    @staticmethod
    def _mobile_fields(
        *, amount: Decimal | int | str, phone_number: str, currency: str, order_reference: str
    ) -> dict[str, Any]:
        return {
            "amount": _checked_amount(amount),
            "phoneNumber": phone_number,
            "currency": currency,
            "orderReference": order_reference,
        }

    def preview_bank_payout(
        self,
        *,
        amount: Decimal | int | str,
        account_number: str,
        account_name: str,
        bic: str,
        transfer_type: str,
        currency: str,
        account_currency: str,
        order_reference: str,
    ) -> PayoutPreview:
        """POST /payouts/preview-bank-payout: the fee and whether the balance covers it."""
        fields = self._bank_fields(
            amount=amount,
            account_number=account_number,
            account_name=account_name,
            bic=bic,
            transfer_type=transfer_type,
            currency=currency,
            account_currency=account_currency,
            order_reference=order_reference,
        )
        answer = self._call("POST", "/payouts/preview-bank-payout", fields=fields)
        return _payout_preview(_object(answer, "payout preview"))

    def create_bank_payout(
        self,
        *,
        amount: Decimal | int | str,
        account_number: str,
        account_name: str,
        bic: str,
        transfer_type: str,
        currency: str,
        account_currency: str,
        order_reference: str,
    ) -> GatewayPayout:
        """POST /payouts/create-bank-payout: send money to a bank account (``ACH`` or ``RTGS``)."""
        fields = self._bank_fields(
            amount=amount,
            account_number=account_number,
            account_name=account_name,
            bic=bic,
            transfer_type=transfer_type,
            currency=currency,
            account_currency=account_currency,
            order_reference=order_reference,
        )
        answer = self._call("POST", "/payouts/create-bank-payout", fields=fields)
        return _payout(_object(answer, "create payout"))

    @staticmethod
    def _bank_fields(
        *,
        amount: Decimal | int | str,
        account_number: str,
        account_name: str,
        bic: str,
        transfer_type: str,
        currency: str,
        account_currency: str,
        order_reference: str,
    ) -> dict[str, Any]:
        return {
            "amount": _checked_amount(amount),
            "accountNumber": account_number,
            "accountName": account_name,
            "bic": bic,
            "transferType": transfer_type,
            "currency": currency,
            "accountCurrency": account_currency,
            "orderReference": order_reference,
        }

    def query_payout(self, *, order_reference: str) -> list[GatewayPayout]:
        """GET /payouts/{orderReference}: every payout ClickPesa holds for it; empty when unknown."""
        try:
            answer = self._call("GET", f"/payouts/{_path_segment(order_reference)}")
        except NotFound:
            return []
        return [_payout(item) for item in _objects(answer, "payout query")]

    # -- account -------------------------------------------------------------------------

    def balance(self) -> list[AccountBalance]:
        """GET /account/balance: the merchant's balance in each currency."""
        balances = []
        for item in _objects(self._call("GET", "/account/balance"), "balance"):
            amount = _decimal(item.get("balance"), "balance")
            if amount is None:
                raise BadResponse("ClickPesa's balance answer has no balance")
            balances.append(AccountBalance(currency=_text(item.get("currency")).upper(), balance=amount))
        return balances

    def statement(self, *, currency: str, start_date: date, end_date: date) -> Statement:
        """GET /account/statement for ``currency`` between two dates, both included."""
        params = {"currency": currency, "startDate": start_date.isoformat(), "endDate": end_date.isoformat()}
        answer = self._call("GET", "/account/statement", params=params)
        # Documented as {accountDetails, transactions}; a bare array of rows is read as rows only.
        details: Mapping[str, Any] = {}
        rows: Any = answer
        if isinstance(answer, Mapping):
            details = answer.get("accountDetails") if isinstance(answer.get("accountDetails"), Mapping) else {}
            rows = answer.get("transactions") or []
        return Statement(
            currency=_text(details.get("currency")).upper() or currency,
            opening_balance=_decimal(details.get("openingBalance"), "openingBalance"),
            closing_balance=_decimal(details.get("closingBalance"), "closingBalance"),
            total_credits=_decimal(details.get("totalCredits"), "totalCredits"),
            total_debits=_decimal(details.get("totalDebits"), "totalDebits"),
            rows=tuple(_statement_row(row) for row in _objects(rows, "statement")),
        )


def _path_segment(order_reference: str) -> str:
    """Our references are letters and digits only; anything else must not reach a URL path."""
    if not order_reference.isascii() or not order_reference.isalnum():
        raise ValueError(f"order reference must be letters and digits only, not {order_reference!r}")
    return order_reference
