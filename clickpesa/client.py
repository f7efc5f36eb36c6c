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
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, TypedDict, TypeVar

import requests
from django.conf import settings
from django.core.cache import cache

from core.errors import BlinnoError

from . import checksum, ratelimit
from .jsonwire import encode_json
from .payloads import (
    AccountBalance,
    PayloadError,
    PaymentData,
    PayoutData,
    PayoutPreview,
    Statement,
    parse_balance,
    parse_money,
    parse_payment,
    parse_payout,
    parse_payout_preview,
    parse_statement,
)

_COOL_DOWN = re.compile(r"retry after (\d+) seconds?", re.IGNORECASE)
_INSUFFICIENT_BALANCE = re.compile(r"insufficient balance", re.IGNORECASE)
_MESSAGE_CHARS = 500
_BODY_CHARS = 2000
# How long a token refresher may hold the lock beyond its own request timeout, and how often
# the others look for the token it stores.
_LOCK_SLACK_SECONDS = 2.0
_LOCK_POLL_SECONDS = 0.05


T = TypeVar("T")


@dataclass(frozen=True)
class BankPayout:
    """What a bank payout (or its preview) sends; ``transfer_type`` is ``ACH`` or ``RTGS``."""

    amount: Decimal
    account_number: str
    account_name: str
    bic: str
    transfer_type: str
    currency: str
    account_currency: str
    order_reference: str

    def fields(self) -> dict[str, Any]:
        return {
            "amount": _checked_amount(self.amount),
            "accountNumber": self.account_number,
            "accountName": self.account_name,
            "bic": self.bic,
            "transferType": self.transfer_type,
            "currency": self.currency,
            "accountCurrency": self.account_currency,
            "orderReference": self.order_reference,
        }


@dataclass(frozen=True)
class Bank:
    bic: str
    name: str


def session(client: ClickPesaClient | None) -> AbstractContextManager[ClickPesaClient]:
    """The caller's client, left open for its next call, or a new one, closed after this use."""
    return nullcontext(client) if client is not None else ClickPesaClient()


def credentials_configured() -> bool:
    """True when ClickPesa API credentials are configured: without them nothing is sent."""
    return bool(settings.CLICKPESA_CLIENT_ID and settings.CLICKPESA_API_KEY)


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


def _read(parse: Callable[[Mapping[str, Any]], T], data: Mapping[str, Any], what: str) -> T:
    """Parse one object of an answer; an object that does not parse is a ``BadResponse``."""
    try:
        return parse(data)
    except PayloadError as exc:
        raise BadResponse(f"ClickPesa's {what} answer is unusable: {exc}") from None


def _error_message(response: requests.Response) -> str:
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, Mapping) else None
    if not isinstance(message, str) or not message.strip():
        message = response.text.strip() or f"HTTP {response.status_code}"
    return message.strip()[:_MESSAGE_CHARS]


class _ErrorDetails(TypedDict):
    """The keyword arguments every :class:`ClickPesaError` takes besides its message."""

    status_code: int | None
    body: str


def _error_for(response: requests.Response) -> ClickPesaError:
    """Map a failed answer to the exception a caller acts on."""
    status = response.status_code
    message = _error_message(response)
    details: _ErrorDetails = {"status_code": status, "body": response.text[:_BODY_CHARS]}
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


def _minute_key() -> str:
    return f"clickpesa:requests:{int(time.time() // 60)}"


def _count_request() -> None:
    """Count a request against this minute's shared allowance (every process, through the cache)."""
    key = _minute_key()
    cache.add(key, 0, timeout=120)
    try:
        cache.incr(key)
    except ValueError:  # the entry expired between add and incr: this request starts a new count
        cache.add(key, 1, timeout=120)


def requests_this_minute() -> int:
    """Requests every process of this service has sent ClickPesa in the current clock minute.

    ClickPesa allows ``CLICKPESA_REQUESTS_PER_MINUTE`` (120) per address for all endpoints
    together; work that can wait (the reversal re-checks) reads this to leave the rest room.
    """
    return int(cache.get(_minute_key()) or 0)


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
            ratelimit.acquire_request()
        except TimeoutError as exc:
            # Nothing was sent: safe to retry, like ClickPesa's own 429.
            raise RateLimited(f"{exc} (Blinno's shared limiter; nothing was sent for {method} {path})") from None
        _count_request()
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
        # number; canonical JSON writes a Decimal as JavaScript prints that number.
        return encode_json({**fields, "checksum": checksum.compute(fields, self._checksum_key)})

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

    def initiate_ussd_push(
        self, *, amount: Decimal | int | str, currency: str, order_reference: str, phone_number: str
    ) -> PaymentData:
        """POST /payments/initiate-ussd-push-request: ask the phone's owner to approve the payment."""
        fields = self._ussd_fields(
            amount=amount, currency=currency, order_reference=order_reference, phone_number=phone_number
        )
        answer = _object(self._call("POST", "/payments/initiate-ussd-push-request", fields=fields), "USSD-push")
        # The answer names the payment by its id; the reference is the one we sent.
        return _read(parse_payment, {"orderReference": order_reference, **answer}, "USSD-push")

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

    def query_payment(self, *, order_reference: str) -> list[PaymentData]:
        """GET /payments/{orderReference}: every payment ClickPesa holds for it; empty when unknown."""
        try:
            answer = self._call("GET", f"/payments/{_path_segment(order_reference)}")
        except NotFound:
            return []
        return [_read(parse_payment, item, "payment query") for item in _objects(answer, "payment query")]

    def initiate_card_payment(
        self, *, amount: Decimal | int | str, currency: str, order_reference: str, customer_id: str
    ) -> str:
        """POST /payments/initiate-card-payment: the link where the buyer enters their card."""
        fields = {
            "amount": amount_text(_checked_amount(amount)),
            "currency": currency,
            "orderReference": order_reference,
            "customer": {"id": customer_id},
        }
        answer = _object(self._call("POST", "/payments/initiate-card-payment", fields=fields), "card payment")
        return _link(answer, "cardPaymentLink", "card payment")

    def generate_checkout_link(
        self, *, amount: Decimal | int | str, currency: str, order_reference: str, description: str = ""
    ) -> str:
        """POST /checkout-link/generate-checkout-url: ClickPesa's hosted page for any of its methods."""
        fields = {
            "totalPrice": amount_text(_checked_amount(amount)),
            "orderCurrency": currency,
            "orderReference": order_reference,
            "description": description,
        }
        answer = _object(self._call("POST", "/checkout-link/generate-checkout-url", fields=fields), "checkout link")
        return _link(answer, "checkoutLink", "checkout link")

    # -- payouts -------------------------------------------------------------------------

    def preview_mobile_money_payout(
        self, *, amount: Decimal | int | str, phone_number: str, currency: str, order_reference: str
    ) -> PayoutPreview:
        """POST /payouts/preview-mobile-money-payout: the fee and whether the balance covers it."""
        fields = self._mobile_fields(
            amount=amount, phone_number=phone_number, currency=currency, order_reference=order_reference
        )
        answer = _object(self._call("POST", "/payouts/preview-mobile-money-payout", fields=fields), "payout preview")
        return _read(parse_payout_preview, answer, "payout preview")

    def create_mobile_money_payout(
        self, *, amount: Decimal | int | str, phone_number: str, currency: str, order_reference: str
    ) -> PayoutData:
        """POST /payouts/create-mobile-money-payout: send money to a mobile wallet."""
        fields = self._mobile_fields(
            amount=amount, phone_number=phone_number, currency=currency, order_reference=order_reference
        )
        answer = _object(self._create_payout("/payouts/create-mobile-money-payout", fields), "create payout")
        return _read(parse_payout, {"orderReference": order_reference, **answer}, "create payout")

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

    def preview_bank_payout(self, request: BankPayout) -> PayoutPreview:
        """POST /payouts/preview-bank-payout: the fee and whether the balance covers it."""
        answer = self._call("POST", "/payouts/preview-bank-payout", fields=request.fields())
        return _read(parse_payout_preview, _object(answer, "payout preview"), "payout preview")

    def create_bank_payout(self, request: BankPayout) -> PayoutData:
        """POST /payouts/create-bank-payout: send money to a bank account."""
        answer = _object(self._create_payout("/payouts/create-bank-payout", request.fields()), "create payout")
        return _read(parse_payout, {"orderReference": request.order_reference, **answer}, "create payout")

    def _create_payout(self, path: str, fields: Mapping[str, Any]) -> Any:
        """POST a create-payout once the shared cool-down allows it (ratelimit), else raise ``CoolDown``
        without sending; ClickPesa's own cool-down answer pauses every process's creates."""
        wait = ratelimit.acquire_payout_create()
        if wait > 0:
            seconds = ratelimit.seconds_text(wait)
            raise CoolDown(
                f"Blinno's payout cool-down: retry after {seconds} seconds (nothing was sent)", seconds=seconds
            )
        try:
            return self._call("POST", path, fields=fields)
        except CoolDown as exc:
            ratelimit.pause_payout_creates(exc.seconds)
            raise

    def query_payout(self, *, order_reference: str) -> list[PayoutData]:
        """GET /payouts/{orderReference}: every payout ClickPesa holds for it; empty when unknown."""
        try:
            answer = self._call("GET", f"/payouts/{_path_segment(order_reference)}")
        except NotFound:
            return []
        return [_read(parse_payout, item, "payout query") for item in _objects(answer, "payout query")]

    # -- account -------------------------------------------------------------------------

    def banks(self) -> list[Bank]:
        """GET /list/banks: the banks ClickPesa pays out to, by BIC."""
        banks = []
        for item in _objects(self._call("GET", "/list/banks"), "bank list"):
            bic, name = item.get("bic"), item.get("name")
            if isinstance(bic, str) and bic and isinstance(name, str):
                banks.append(Bank(bic=bic.upper(), name=name))
        return banks

    def balance(self) -> list[AccountBalance]:
        """GET /account/balance: the merchant's balance in each currency."""
        return [
            _read(parse_balance, item, "balance") for item in _objects(self._call("GET", "/account/balance"), "balance")
        ]

    def statement(self, *, currency: str, start_date: date, end_date: date) -> Statement:
        """GET /account/statement for ``currency`` between two dates, both included."""
        params = {"currency": currency, "startDate": start_date.isoformat(), "endDate": end_date.isoformat()}
        answer = self._call("GET", "/account/statement", params=params)
        try:
            return parse_statement(answer, currency=currency)
        except PayloadError as exc:
            raise BadResponse(f"ClickPesa's statement answer is unusable: {exc}") from None


def _link(answer: Mapping[str, Any], name: str, what: str) -> str:
    link = answer.get(name)
    if not isinstance(link, str) or (not link.startswith("https://") and not link.startswith("http://")):
        raise BadResponse(f"ClickPesa's {what} answer has no {name}.")
    return link


def _path_segment(order_reference: str) -> str:
    """Our references are letters and digits only; anything else must not reach a URL path."""
    if not order_reference.isascii() or not order_reference.isalnum():
        raise ValueError(f"order reference must be letters and digits only, not {order_reference!r}")
    return order_reference
