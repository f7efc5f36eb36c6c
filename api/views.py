"""The storefront's endpoints under ``/api/v1/``. Each reads its input, calls one service, answers.

Authentication, scopes, throttling, the error shape and ``Idempotency-Key`` come from
:class:`api.base.ApiView`.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, time
from typing import Any, TypeVar

from django.db.models import Model
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from accounts.services import PersonFields, person_upsert
from core.money import Currency
from core.phones import InvalidPhoneNumber, phone_normalize
from core.tables import table_csv
from payments.models import Order, Payment
from payments.refunds import refund_request
from payments.services import LineSpec, order_cancel, order_create, payment_link_create, payment_start
from revenue.models import Payout, PayoutMethod
from revenue.services import (
    creator_balance,
    creator_entries,
    payout_method_add,
    payout_method_make_default,
    payout_request,
)
from revenue.statement_files import statement_filename, statement_pdf, statement_table
from revenue.statements import creator_statement

from . import serializers as s
from .base import ApiView, validated
from .errors import ApiError

M = TypeVar("M", bound=Model)

_BIGINT_MAX = 2**63 - 1
_PAGE_DEFAULT, _PAGE_MAX = 100, 500

ERROR = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorDetail",
            {
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "field": serializers.CharField(allow_null=True),
            },
        )
    },
)
ERRORS = {
    400: OpenApiResponse(ERROR, description="A malformed or invalid request"),
    401: OpenApiResponse(ERROR, description="No API key, or an unknown, revoked or expired one"),
    403: OpenApiResponse(ERROR, description="The key's scopes do not allow this"),
    404: OpenApiResponse(ERROR, description="No such resource"),
    422: OpenApiResponse(ERROR, description="Refused as it stands (a business rule); the code says which"),
    429: OpenApiResponse(ERROR, description="Too many requests for this key; see Retry-After"),
}
IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="Any unique string (a UUID): a retry with the same key and body replays the first answer.",
)
POST_ERRORS = {
    **ERRORS,
    409: OpenApiResponse(ERROR, description="A request with this Idempotency-Key is still in progress"),
}


def _get(model: type[M], message: str, **lookup: Any) -> M:
    """The one row matching ``lookup``; a 404 ``not_found`` otherwise (an id past bigint included)."""
    if any(isinstance(value, int) and not 0 < value <= _BIGINT_MAX for value in lookup.values()):
        raise ApiError(message, code="not_found", status_code=404)
    found = model._default_manager.filter(**lookup).first()
    if found is None:
        raise ApiError(message, code="not_found", status_code=404)
    return found


def _person(external_id: str) -> User:
    return _get(User, f"No person with id {external_id!r}.", external_id=external_id)


def _creator(external_id: str) -> User:
    return _get(User, f"No creator with id {external_id!r}.", external_id=external_id, is_creator=True)


def _currency(request: Request) -> str:
    currency = request.query_params.get("currency", Currency.TZS)
    if currency not in Currency.values:
        raise ApiError(f"Unsupported currency {currency!r}.", code="invalid_field", field="currency")
    return currency


def _limit(request: Request) -> int:
    text = request.query_params.get("limit", str(_PAGE_DEFAULT))
    if not text.isdigit() or not 1 <= int(text) <= _PAGE_MAX:
        raise ApiError(f"limit must be 1 to {_PAGE_MAX}.", code="invalid_field", field="limit")
    return int(text)


def _cursor_in(request: Request) -> int | None:
    text = request.query_params.get("cursor")
    if text is None:
        return None
    try:
        value = int(base64.urlsafe_b64decode(text.encode("ascii") + b"==").decode("ascii"))
    except (ValueError, UnicodeError, binascii.Error):
        value = -1
    if not 0 < value <= _BIGINT_MAX:
        raise ApiError("Unknown cursor: pass next_cursor as it was given.", code="invalid_cursor", field="cursor")
    return value


def _cursor_out(value: int) -> str:
    return base64.urlsafe_b64encode(str(value).encode()).decode().rstrip("=")


def _moment(request: Request, name: str) -> datetime | None:
    """A ``from``/``to`` filter: a date (midnight, Tanzania's time) or a time with its offset."""
    text = request.query_params.get(name)
    if text is None:
        return None
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            moment = datetime.combine(day, time.min) if day is not None else None
    except ValueError:
        moment = None
    if moment is None:
        raise ApiError(f"{name} must be a date (2026-01-31) or an ISO 8601 time.", code="invalid_field", field=name)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


# ---- people -----------------------------------------------------------------------------


class PersonView(ApiView):
    @extend_schema(
        operation_id="people_upsert",
        summary="Create or update a buyer or creator by the storefront's id",
        request=s.PersonIn,
        responses={200: s.PersonOut, 201: s.PersonOut, **ERRORS},
        examples=[
            OpenApiExample(
                "A creator",
                value={
                    "name": "Amina Juma",
                    "email": "amina@example.com",
                    "phone": "0754 123 456",
                    "language": "sw",
                    "is_creator": True,
                },
                request_only=True,
            )
        ],
    )
    def put(self, request: Request, external_id: str) -> Response:
        if not re.fullmatch(s.EXTERNAL_ID, external_id):
            raise ApiError(
                "A person's id is 1 to 64 letters, digits and . _ : -", code="invalid_field", field="external_id"
            )
        data = validated(s.PersonIn, request.data)
        try:
            person, created = person_upsert(external_id, PersonFields(**data))
        except InvalidPhoneNumber as exc:
            raise ApiError(exc.message, code=exc.code, field="phone") from exc
        return Response(s.PersonOut(person).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(operation_id="people_get", summary="A person", responses={200: s.PersonOut, **ERRORS})
    def get(self, request: Request, external_id: str) -> Response:
        return Response(s.PersonOut(_person(external_id)).data)


class PayoutMethodsView(ApiView):
    @extend_schema(
        operation_id="payout_methods_list",
        summary="A creator's payout methods",
        responses={200: s.PayoutMethodOut(many=True), **ERRORS},
    )
    def get(self, request: Request, external_id: str) -> Response:
        methods = PayoutMethod.objects.filter(creator=_creator(external_id)).order_by("id")
        return Response(s.PayoutMethodOut(methods, many=True).data)

    @extend_schema(
        operation_id="payout_methods_create",
        summary="Add a mobile wallet or bank account",
        parameters=[IDEMPOTENCY],
        request=s.PayoutMethodIn,
        responses={201: s.PayoutMethodOut, **POST_ERRORS},
        examples=[
            OpenApiExample(
                "M-Pesa wallet",
                value={"kind": "mobile_wallet", "account_number": "+255 754 123 456", "account_name": "Amina Juma"},
                request_only=True,
            ),
            OpenApiExample(
                "CRDB account",
                value={
                    "kind": "bank_account",
                    "account_number": "0150123456789",
                    "account_name": "Amina Juma",
                    "bic": "CORUTZTZ",
                    "make_default": True,
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request: Request, external_id: str) -> Response:
        creator = _creator(external_id)
        data = validated(s.PayoutMethodIn, request.data)
        try:
            method = payout_method_add(creator, kind=data.pop("kind").upper(), **data)
        except InvalidPhoneNumber as exc:
            raise ApiError(exc.message, code=exc.code, field="account_number") from exc
        return Response(s.PayoutMethodOut(method).data, status=status.HTTP_201_CREATED)


class PayoutMethodDefaultView(ApiView):
    @extend_schema(
        operation_id="payout_methods_make_default",
        summary="Make a payout method the creator's default",
        parameters=[IDEMPOTENCY],
        request=None,
        responses={200: s.PayoutMethodOut, **POST_ERRORS},
    )
    def post(self, request: Request, external_id: str, method_id: int) -> Response:
        creator = _creator(external_id)
        method = _get(PayoutMethod, f"No payout method {method_id} for {external_id!r}.", pk=method_id, creator=creator)
        return Response(s.PayoutMethodOut(payout_method_make_default(method)).data)


# ---- orders and payments ----------------------------------------------------------------


def _order(order_id: int) -> Order:
    return _get(Order, f"No order {order_id}.", pk=order_id)


class OrdersView(ApiView):
    @extend_schema(
        operation_id="orders_create",
        summary="Create an order: the fee breakdown comes back",
        parameters=[IDEMPOTENCY],
        request=s.OrderIn,
        responses={201: s.OrderOut, **POST_ERRORS},
        examples=[
            OpenApiExample(
                "Two lines, one creator",
                value={
                    "buyer": "u-1001",
                    "currency": "TZS",
                    "lines": [
                        {
                            "creator": "c-7",
                            "transaction_type": "digital_product",
                            "amount": "25000.00",
                            "description": "E-book",
                        },
                        {"creator": "c-7", "transaction_type": "tip", "amount": "2000.00", "description": "Tip"},
                    ],
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = validated(s.OrderIn, request.data)
        buyer = User.objects.filter(external_id=data["buyer"]).first()
        if buyer is None:
            raise ApiError(
                f"No person with id {data['buyer']!r}.", code="unknown_person", status_code=422, field="buyer"
            )
        creators = {
            u.external_id: u
            for u in User.objects.filter(external_id__in={line["creator"] for line in data["lines"]}, is_creator=True)
        }
        specs = []
        for index, line in enumerate(data["lines"]):
            creator = creators.get(line["creator"])
            if creator is None:
                raise ApiError(
                    f"No creator with id {line['creator']!r}.",
                    code="unknown_creator",
                    status_code=422,
                    field=f"lines[{index}].creator",
                )
            specs.append(LineSpec(creator, line["transaction_type"].upper(), line["amount"], line["description"]))
        order = order_create(buyer, lines=specs, currency=data["currency"])
        return Response(s.OrderOut(order).data, status=status.HTTP_201_CREATED)


class OrderView(ApiView):
    @extend_schema(
        operation_id="orders_get", summary="An order, its fees and its payments", responses={200: s.OrderOut, **ERRORS}
    )
    def get(self, request: Request, order_id: int) -> Response:
        return Response(s.OrderOut(_order(order_id)).data)


class OrderCancelView(ApiView):
    @extend_schema(
        operation_id="orders_cancel",
        summary="Cancel an unpaid order (order_closed once paid or cancelled)",
        parameters=[IDEMPOTENCY],
        request=None,
        responses={200: s.OrderOut, **POST_ERRORS},
    )
    def post(self, request: Request, order_id: int) -> Response:
        return Response(s.OrderOut(order_cancel(_order(order_id))).data)


class OrderPaymentsView(ApiView):
    @extend_schema(
        operation_id="payments_create",
        summary="Start paying an order: USSD push, card or checkout link",
        parameters=[IDEMPOTENCY],
        request=s.PaymentIn,
        responses={201: s.PaymentOut, **POST_ERRORS, 502: OpenApiResponse(ERROR), 503: OpenApiResponse(ERROR)},
        examples=[
            OpenApiExample("USSD push", value={"method": "ussd_push", "phone": "0754 123 456"}, request_only=True),
            OpenApiExample("Card", value={"method": "card", "customer": "u-1001"}, request_only=True),
            OpenApiExample("Checkout link", value={"method": "checkout_link"}, request_only=True),
        ],
    )
    def post(self, request: Request, order_id: int) -> Response:
        order = _order(order_id)
        data = validated(s.PaymentIn, request.data)
        method = data["method"].upper()
        phone = ""
        if method == Payment.Method.USSD_PUSH:
            try:
                phone = phone_normalize(data["phone"])
            except InvalidPhoneNumber as exc:
                raise ApiError(exc.message, code=exc.code, field="phone") from exc
        payment = payment_start(order, phone_number=phone, method=method)
        if method != Payment.Method.USSD_PUSH:
            payment = payment_link_create(payment, customer_id=data.get("customer", ""))
        return Response(s.PaymentOut(payment).data, status=status.HTTP_201_CREATED)


class OrderRefundsView(ApiView):
    @extend_schema(
        operation_id="refunds_create",
        summary="Ask for a full or partial refund of a paid order: paid to the buyer's wallet once staff approve it",
        parameters=[IDEMPOTENCY],
        request=s.RefundIn,
        responses={201: s.RefundOut, **POST_ERRORS},
        examples=[
            OpenApiExample(
                "Half of one line",
                value={"lines": [{"line": 12, "amount": "5000.00"}], "reason": "not_delivered", "note": "Lost"},
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, order_id: int) -> Response:
        order = _order(order_id)
        data = validated(s.RefundIn, request.data)
        refund = refund_request(
            order,
            lines={line["line"]: line["amount"] for line in data["lines"]},
            reason=data["reason"].upper(),
            note=data["note"],
            # The storefront asks on the buyer's behalf; a person at Blinno decides.
            by=order.buyer,
        )
        return Response(s.RefundOut(refund).data, status=status.HTTP_201_CREATED)


class PaymentView(ApiView):
    @extend_schema(
        operation_id="payments_get", summary="A payment by its reference", responses={200: s.PaymentOut, **ERRORS}
    )
    def get(self, request: Request, reference: str) -> Response:
        return Response(s.PaymentOut(_get(Payment, f"No payment {reference!r}.", reference=reference)).data)


# ---- creators and payouts ---------------------------------------------------------------

CURRENCY = OpenApiParameter("currency", OpenApiTypes.STR, enum=Currency.values, default=Currency.TZS)
PAGE = [
    OpenApiParameter("cursor", OpenApiTypes.STR, description="next_cursor of the previous page"),
    OpenApiParameter("limit", OpenApiTypes.INT, description=f"1 to {_PAGE_MAX}, default {_PAGE_DEFAULT}"),
]


class BalanceView(ApiView):
    @extend_schema(
        operation_id="creators_balance",
        summary="A creator's money: pending, available, in flight, earned, paid out",
        parameters=[CURRENCY],
        responses={200: s.BalanceOut, **ERRORS},
    )
    def get(self, request: Request, external_id: str) -> Response:
        creator = _creator(external_id)
        balance = creator_balance(creator, currency=_currency(request))
        return Response(s.BalanceOut({"creator": external_id, **balance.__dict__}).data)


class _FileRenderer(BaseRenderer):
    """Hands a statement file's bytes through as they are (chosen by Accept or ``?format=``)."""

    charset = None

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> Any:
        return data


class PdfRenderer(_FileRenderer):
    media_type = "application/pdf"
    format = "pdf"


class CsvRenderer(_FileRenderer):
    media_type = "text/csv"
    format = "csv"


_PERIOD = re.compile(r"^(2\d{3})-(0[1-9]|1[0-2])$")


class StatementView(ApiView):
    renderer_classes = [JSONRenderer, PdfRenderer, CsvRenderer]

    @extend_schema(
        operation_id="creators_statement",
        summary="A creator's monthly statement: opening balance, every movement, closing balance",
        description="JSON by default; the PDF or CSV the creator is emailed with `Accept: application/pdf` "
        "or `text/csv`, or `?format=pdf` / `?format=csv`. Months are Tanzania's (EAT).",
        parameters=[CURRENCY, OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "pdf", "csv"])],
        responses={200: s.StatementOut, **ERRORS},
    )
    def get(self, request: Request, external_id: str, period: str) -> Response | HttpResponse:
        creator = _creator(external_id)
        match = _PERIOD.match(period)
        if match is None:
            raise ApiError("The month must be YYYY-MM (2000-01 to 2999-12).", code="invalid_field", field="period")
        statement = creator_statement(
            creator, year=int(match.group(1)), month=int(match.group(2)), currency=_currency(request)
        )
        file_format = request.accepted_renderer.format
        if file_format in ("pdf", "csv"):
            content = statement_pdf(statement) if file_format == "pdf" else table_csv(statement_table(statement))
            response = HttpResponse(content, content_type=request.accepted_renderer.media_type)
            response["Content-Disposition"] = f'attachment; filename="{statement_filename(statement, file_format)}"'
            return response
        return Response(s.StatementOut({"creator": external_id, "statement": statement}).data)


class EntriesView(ApiView):
    @extend_schema(
        operation_id="creators_entries",
        summary="Every ledger movement of a creator, oldest first, with its account's running balance",
        parameters=[
            CURRENCY,
            OpenApiParameter("from", OpenApiTypes.STR, description="A date or ISO 8601 time (included)"),
            OpenApiParameter("to", OpenApiTypes.STR, description="A date or ISO 8601 time (excluded)"),
            *PAGE,
        ],
        responses={200: s.EntriesOut, **ERRORS},
    )
    def get(self, request: Request, external_id: str) -> Response:
        creator = _creator(external_id)
        limit = _limit(request)
        entries = creator_entries(
            creator,
            currency=_currency(request),
            after_id=_cursor_in(request) or 0,
            since=_moment(request, "from"),
            until=_moment(request, "to"),
            limit=limit + 1,  # one more than shown: whether another page exists
        )
        next_cursor = _cursor_out(entries[limit - 1].id) if len(entries) > limit else None
        entries = entries[:limit]
        return Response(s.EntriesOut({"data": entries, "next_cursor": next_cursor}).data)


class CreatorPayoutsView(ApiView):
    @extend_schema(
        operation_id="payouts_list",
        summary="A creator's payouts, newest first",
        parameters=PAGE,
        responses={200: s.PayoutsOut, **ERRORS},
    )
    def get(self, request: Request, external_id: str) -> Response:
        creator = _creator(external_id)
        limit = _limit(request)
        payouts = Payout.objects.filter(creator=creator).select_related("creator").order_by("-id")
        before = _cursor_in(request)
        if before is not None:
            payouts = payouts.filter(id__lt=before)
        page = list(payouts[: limit + 1])  # one more than shown: whether another page exists
        next_cursor = _cursor_out(page[limit - 1].pk) if len(page) > limit else None
        page = page[:limit]
        return Response(s.PayoutsOut({"data": page, "next_cursor": next_cursor}).data)

    @extend_schema(
        operation_id="payouts_create",
        summary="Pay out the creator's whole available balance",
        parameters=[IDEMPOTENCY],
        request=s.PayoutIn,
        responses={201: s.PayoutOut, **POST_ERRORS},
        examples=[OpenApiExample("To the default method", value={"currency": "TZS"}, request_only=True)],
    )
    def post(self, request: Request, external_id: str) -> Response:
        creator = _creator(external_id)
        data = validated(s.PayoutIn, request.data)
        method = None
        if "method" in data:
            method = PayoutMethod.objects.filter(pk=data["method"]).first()
            if method is None:
                raise ApiError(
                    f"No payout method {data['method']}.", code="unknown_method", status_code=422, field="method"
                )
        payout = payout_request(creator, currency=data["currency"], method=method)
        return Response(s.PayoutOut(payout).data, status=status.HTTP_201_CREATED)


class PayoutView(ApiView):
    @extend_schema(
        operation_id="payouts_get", summary="A payout by its reference", responses={200: s.PayoutOut, **ERRORS}
    )
    def get(self, request: Request, reference: str) -> Response:
        return Response(s.PayoutOut(_get(Payout, f"No payout {reference!r}.", reference=reference)).data)


def not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any other address under /api/v1/: a 404 in the API's error shape, not Django's HTML page."""
    return JsonResponse({"error": {"code": "not_found", "message": "No such endpoint.", "field": None}}, status=404)
