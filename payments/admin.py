"""Orders and payments in the back-office: read-only, since only the payment services change them."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from clickpesa.admin import requery_each, webhook_events_for
from core.admin_base import ReadOnlyAdmin, ReadOnlyTabularInline, money_column, require_permission, resolve_one
from core.admin_filters import DateRangeFilter, QueueFilter
from core.money import format_money
from core.users import User
from revenue.admin.common import admin_user, journal_for
from revenue.models import PlatformFee

from .models import Booking, Order, OrderLine, Payment, Refund, RefundLine, Subscription
from .refunds import RefundError, refund_request, refund_uncredited_request
from .services import (
    PaymentError,
    payment_requery,
    payment_review_capture,
    payment_review_dismiss,
    uncredited_refund_returned,
    uncredited_refund_waiting,
)

BUYER_SEARCH = (
    "order__buyer__username",
    "order__buyer__first_name",
    "order__buyer__last_name",
    "order__buyer__phone_number",
    "order__buyer__email",
)


class OrderLineInline(ReadOnlyTabularInline):
    model = OrderLine
    fields = ("creator", "transaction_type", "description", "amount", "booking", "subscription")
    show_change_link = False


class PaymentInline(ReadOnlyTabularInline):
    model = Payment
    fields = ("reference", "amount", "currency", "status", "channel", "created_at", "completed_at", "failure_reason")


class PlatformFeeInline(ReadOnlyTabularInline):
    model = PlatformFee
    fields = ("creator", "transaction_type", "subtotal", "rate", "platform_fee", "creator_amount", "status", "payout")


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "buyer",
        "status",
        money_column("total"),
        money_column("subtotal"),
        money_column("processing_fee", "processing fee"),
        "created_at",
    )
    list_filter = ("status", "currency", ("created_at", DateRangeFilter))
    search_fields = ("buyer__username", "buyer__first_name", "buyer__last_name", "buyer__phone_number", "buyer__email")
    list_select_related = ("buyer",)
    ordering = ("-created_at", "-id")
    inlines = [OrderLineInline, PaymentInline, PlatformFeeInline]
    actions = ["request_refund"]

    def has_request_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.request_refund")

    @admin.action(description="Ask for a refund of the selected order", permissions=["request_refund"])
    def request_refund(self, request: HttpRequest, queryset: QuerySet[Order]) -> HttpResponse | None:
        """A page with the order's lines (what to give back of each), the reason and a note; then
        `refund_request`, which waits for another person's approval."""
        orders = list(queryset[:2])
        if len(orders) != 1:
            self.message_user(request, "Choose one order to refund.", messages.ERROR)
            return None
        order = orders[0]
        lines = list(order.lines.select_related("creator"))
        error = ""
        if "apply" in request.POST:
            try:
                wanted = {line.pk: Decimal(request.POST.get(f"line_{line.pk}", "").strip() or "0") for line in lines}
                refund = refund_request(
                    order,
                    lines={pk: amount for pk, amount in wanted.items() if amount != 0},
                    reason=request.POST.get("reason", ""),
                    note=request.POST.get("note", ""),
                    by=cast(User, request.user),
                )
            except InvalidOperation:
                error = "Amounts must be numbers, like 2500 or 2500.50."
            except RefundError as exc:
                error = exc.message
            else:
                self.log_change(request, order, f"Refund #{refund.pk} asked: {refund.amount} ({refund.reason})")
                self.message_user(
                    request,
                    f"Refund #{refund.pk} of {format_money(refund.amount, refund.currency)} asked; "
                    "it is paid once another person approves it.",
                    messages.SUCCESS,
                )
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Refund order #{order.pk}",
            "opts": self.opts,
            "order": order,
            "lines": lines,
            "reasons": Refund.Reason.choices,
            "changelist_url": reverse("admin:payments_order_changelist"),
            "error": error,
        }
        return TemplateResponse(request, "admin/payments/order/refund.html", context)


class RefundLineInline(ReadOnlyTabularInline):
    model = RefundLine
    fields = ("line", "amount")


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", money_column("amount"), "reason", "status", "payout", "requested_by", "created_at")
    list_filter = ("status", "reason", ("created_at", DateRangeFilter))
    search_fields = ("order__buyer__username", "order__buyer__phone_number", "payout__reference", "note")
    list_select_related = ("order", "payout", "requested_by")
    inlines = [RefundLineInline]


@admin.register(OrderLine)
class OrderLineAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "order",
        "creator",
        "transaction_type",
        "description",
        money_column("amount", currency="order.currency"),
    )
    list_filter = ("transaction_type",)
    search_fields = ("description", "creator__username", "creator__first_name", "creator__last_name")
    list_select_related = ("order", "creator")


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    change_form_template = "admin/payments/payment/change_form.html"
    list_display = (
        "reference",
        "order_link",
        "buyer",
        money_column("amount"),
        "status",
        "channel",
        "gateway_id",
        "created_at",
        "completed_at",
    )
    list_filter = (
        QueueFilter,
        "status",
        "currency",
        ("created_at", DateRangeFilter),
        ("completed_at", DateRangeFilter),
    )
    search_fields = ("reference", "gateway_id", "gateway_reference", "phone_number", *BUYER_SEARCH)
    search_help_text = "Reference, ClickPesa ids, phone, buyer name, username or email"
    list_select_related = ("order__buyer",)
    ordering = ("-created_at", "-id")
    actions = ["requery_payments"]

    def has_requery_permission(self, request: HttpRequest) -> bool:
        # Re-querying ClickPesa is one power, for payouts and payments alike (Support's).
        return request.user.has_perm("revenue.requery_payout")

    @admin.action(description="Re-query ClickPesa about selected payments", permissions=["requery"])
    def requery_payments(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        """Ask ClickPesa about each payment and apply its answer as a webhook would (source poll)."""
        requery_each(
            self,
            request,
            queryset,
            payment_requery,
            "payment",
            next_step="The buyer never completed it at ClickPesa: it stays pending (the poller keeps asking); "
            "ask the buyer to pay again.",
        )

    amount_money = staticmethod(money_column("amount"))
    readonly_fields = ("amount_money",)

    def get_fields(self, request: HttpRequest, obj: Payment | None = None) -> Any:
        # The amount in the one money format ("TZS 11,000.00"), where the raw column would stand.
        fields = [f for f in super().get_fields(request, obj) if f not in ("amount_money", "currency")]
        return [("amount_money" if f == "amount" else f) for f in fields]

    def get_urls(self) -> list[URLPattern]:
        review = path(
            "<path:object_id>/review/", self.admin_site.admin_view(self.review_view), name="payments_payment_review"
        )
        return [review, *super().get_urls()]

    @method_decorator(require_POST)
    def review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Finance's resolution of a payment held for review: capture as collected, or dismiss with a reason."""
        require_permission(request, "payments.review_payment")
        payment = self.get_object(request, unquote(object_id))
        if payment is None:
            raise Http404("No such payment.")
        by = admin_user(request)

        def resolve() -> str:
            resolution = request.POST.get("resolution")
            if resolution == "dismiss":
                return payment_review_dismiss(payment, reason=request.POST.get("reason", ""), by=by)
            try:
                collected = Decimal(request.POST.get("collected", "").replace(",", "").strip())
            except InvalidOperation:
                raise PaymentError("Enter the amount ClickPesa collected, e.g. 51000.00.", code="bad_amount") from None
            if resolution == "refund":
                refund = refund_uncredited_request(
                    payment, collected=collected, note=request.POST.get("note", ""), by=by
                )
                return (
                    f"Refund #{refund.pk} of {format_money(refund.amount, refund.currency)} to the buyer asked for: "
                    "another person approves it under Approvals; then it is paid and this review closes."
                )
            return payment_review_capture(payment, collected=collected, by=by)

        back = reverse("admin:payments_payment_change", args=[payment.pk])
        return resolve_one(self, request, payment, resolve, back=back)

    @admin.display(description="order", ordering="order_id")
    def order_link(self, payment: Payment) -> str:
        url = reverse("admin:payments_order_change", args=[payment.order_id])
        return format_html('<a href="{}">#{}</a>', url, payment.order_id)

    @admin.display(description="buyer")
    def buyer(self, payment: Payment) -> str:
        return str(payment.order.buyer)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, object] | None = None
    ) -> HttpResponse:
        """The payment, then the ClickPesa events for its reference and its ledger transactions."""
        payment = self.get_object(request, unquote(object_id))
        if payment is not None:
            extra_context = {
                **(extra_context or {}),
                "webhook_events": webhook_events_for(request, payment.reference),
                "can_review": payment.status == Payment.Status.NEEDS_REVIEW
                and request.user.has_perm("payments.review_payment"),
                "can_refund_uncredited": payment.completed_at is None,
                "refund_waiting": uncredited_refund_waiting(payment),
                "refund_returned": payment.status == Payment.Status.FAILED
                and request.user.has_perm("payments.review_payment")
                and uncredited_refund_returned(payment),
                "ledger_transactions": journal_for(request, payment.ledger_transactions.all()),
            }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Booking)
class BookingAdmin(ReadOnlyAdmin):
    list_display = ("id", "description", "buyer", "creator", "starts_at", "status", "created_at")
    list_filter = ("status", ("starts_at", DateRangeFilter))
    search_fields = ("description", "buyer__username", "creator__username")
    list_select_related = ("buyer", "creator")


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("id", "plan", "buyer", "creator", "status", "started_at", "expires_at")
    list_filter = ("status", ("expires_at", DateRangeFilter))
    search_fields = ("plan", "buyer__username", "creator__username")
    list_select_related = ("buyer", "creator")
