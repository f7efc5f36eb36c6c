"""The one HTTP view of the webhook pipeline; both endpoints route here with their name.

A DRF view so that drf-spectacular documents it (``GET /api/schema/``), but the receiver reads
the raw request itself: checksums are computed over the exact body, so DRF never parses it.
"""

from django.db import transaction
from django.http import HttpResponse, JsonResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from .checksum import ChecksumMethod
from .receiver import receive

_ANSWER = inline_serializer(
    "WebhookAnswer",
    {
        "status": serializers.ChoiceField(["accepted", "processed", "duplicate", "ignored", "unmatched", "stale"]),
        "event": serializers.IntegerField(help_text="The stored WebhookEvent"),
    },
)
_ERROR = inline_serializer(
    "WebhookError",
    {
        "error": serializers.CharField(help_text="Why the delivery was refused or failed"),
        "event": serializers.IntegerField(help_text="The stored WebhookEvent, kept with the reason"),
    },
)
_ENVELOPE = inline_serializer(
    "WebhookEnvelope",
    {
        "event": serializers.CharField(
            help_text="PAYMENT RECEIVED, PAYMENT FAILED, PAYOUT INITIATED, PAYOUT REFUNDED, PAYOUT REVERSED, "
            "DEPOSIT RECEIVED; any other name is kept and ignored"
        ),
        "data": inline_serializer(
            "WebhookData",
            {
                "orderReference": serializers.CharField(help_text="Our payment or payout reference"),
                "status": serializers.CharField(required=False),
                "id": serializers.CharField(required=False, help_text="ClickPesa's id"),
                "collectedAmount": serializers.CharField(required=False, help_text="Payments: decimal text"),
                "collectedCurrency": serializers.CharField(required=False),
                "amount": serializers.CharField(required=False, help_text="Payouts: decimal text, fee included"),
                "currency": serializers.CharField(required=False),
                "fee": serializers.CharField(required=False),
                "message": serializers.CharField(required=False),
                "channel": serializers.CharField(required=False),
            },
        ),
        "checksum": serializers.CharField(help_text="HMAC-SHA256 of the body under the checksum key, lowercase hex"),
        "checksumMethod": serializers.ChoiceField(ChecksumMethod.values, required=False),
    },
)


class _JsonWhateverAccept(BaseContentNegotiation):
    """Answer JSON whatever the sender's Accept header says: a webhook must never be refused with 406."""

    def select_parser(self, request: Request, parsers: list) -> None:
        return None

    def select_renderer(self, request: Request, renderers: list, format_suffix: str | None = None) -> tuple:
        return renderers[0], renderers[0].media_type


class WebhookView(APIView):
    """POST a ClickPesa webhook: the receiver's status and JSON; 405 for other methods."""

    http_method_names = ["post"]
    authentication_classes: list[type[BaseAuthentication]] = []
    permission_classes: list[type[BasePermission]] = []
    parser_classes: list[type[BaseParser]] = []
    content_negotiation_class = _JsonWhateverAccept

    @extend_schema(
        summary="Receive a ClickPesa webhook",
        description=(
            "The body is stored first, then its checksum is verified (canonical JSON, HMAC-SHA256; a legacy "
            "checksum over nested data is refused), then it is processed once: a repeated body answers "
            "`duplicate`. Refused deliveries are kept with their reason."
        ),
        request={"application/json": _ENVELOPE},
        responses={
            200: _ANSWER,
            400: OpenApiResponse(_ERROR, description="Malformed JSON or event data"),
            401: OpenApiResponse(_ERROR, description="Checksum missing, invalid or unverifiable"),
            411: OpenApiResponse(_ERROR, description="Chunked body on a server that cannot delimit it"),
            413: OpenApiResponse(_ERROR, description="Body (or its declared length) over CLICKPESA_WEBHOOK_MAX_BYTES"),
            415: OpenApiResponse(_ERROR, description="Content type other than application/json"),
            429: OpenApiResponse(
                description="This address is past CLICKPESA_WEBHOOK_REFUSALS_RATE refusals; nothing stored"
            ),
            500: OpenApiResponse(_ERROR, description="Processing failed; retried by us, and safe to deliver again"),
        },
        examples=[OpenApiExample("Processed", value={"status": "processed", "event": 42}, response_only=True)],
        auth=[],
    )
    def post(self, request: Request, *, endpoint: str) -> HttpResponse:
        status, answer = receive(request._request, endpoint=endpoint)
        return JsonResponse(answer, status=status)

    def http_method_not_allowed(self, request: Request, *args: object, **kwargs: object) -> HttpResponse:
        return JsonResponse({"error": "method not allowed; POST a webhook"}, status=405)


# ClickPesa cannot send a CSRF token (DRF views are exempt); the checksum authenticates the body
# instead. Outside ATOMIC_REQUESTS, so that a failure recorded on the event survives the
# rolled-back work.
webhook = transaction.non_atomic_requests(WebhookView.as_view())
