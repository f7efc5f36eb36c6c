"""The notification outbox in the back-office: read-only rows and "resend" for failed ones."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from core.admin_base import ReadOnlyAdmin, ReadOnlyTabularInline, apply_each, require_permission, resolve_one, tell
from core.admin_filters import DateRangeFilter, QueueFilter
from core.errors import BlinnoError

from .models import Notification, StorefrontDelivery, StorefrontEvent
from .services import notification_resend
from .storefront import storefront_event_replay


def _resend(notification: Notification) -> str:
    if not notification_resend(notification):
        raise BlinnoError(
            f"Notification #{notification.pk} is {notification.get_status_display()} "
            f"({notification.get_channel_display()}): only sent or failed emails are resent.",
            code="not_resendable",
        )
    return f"Notification #{notification.pk} queued to be sent again to {notification.email or notification.recipient}."


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    change_form_template = "admin/notifications/notification/change_form.html"
    list_display = ("id", "created_at", "kind", "recipient", "email", "channel", "status", "attempts")
    list_filter = (QueueFilter, "status", "kind", "channel", "language", ("created_at", DateRangeFilter))
    search_fields = ("email", "subject", "dedupe_key", "recipient__username", "recipient__phone_number")
    list_select_related = ("recipient",)
    ordering = ("-created_at", "-id")
    actions = ["resend"]

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.resend_notification")

    def get_urls(self) -> list[URLPattern]:
        resend = path(
            "<path:object_id>/resend/",
            self.admin_site.admin_view(self.resend_view),
            name="notifications_notification_resend",
        )
        return [resend, *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, object] | None = None
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_resend": self.has_resend_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    @method_decorator(require_POST)
    def resend_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Resend one notification from its page (a receipt the buyer says never came)."""
        require_permission(request, "notifications.resend_notification")
        notification = self.get_object(request, unquote(object_id))
        if notification is None:
            raise Http404("No such notification.")
        back = reverse("admin:notifications_notification_change", args=[notification.pk])
        return resolve_one(self, request, notification, lambda: _resend(notification), back=back)

    @admin.action(description="Resend selected notifications (sent or failed emails)", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        report = apply_each(
            self,
            request,
            queryset.order_by("id"),
            _resend,
            log_message=lambda notification, _: "Queued for resending",
            reasons={"not_resendable": "still on its way, or in-app"},
        )
        tell(self, request, report, "notification", "queued for resending")


def _replay(event: StorefrontEvent) -> None:
    if not storefront_event_replay(event):
        raise BlinnoError(f"Event {event.message_id} is {event.status}; it is on its way already.", code="in_flight")


class StorefrontDeliveryInline(ReadOnlyTabularInline):
    model = StorefrontDelivery
    fields = ("attempted_at", "status_code", "duration_ms", "error")
    ordering = ("-id",)
    show_change_link = False


@admin.register(StorefrontEvent)
class StorefrontEventAdmin(ReadOnlyAdmin):
    """Events sent to the storefront, every attempt, and "replay" for Support."""

    list_display = ("id", "created_at", "type", "message_id", "status", "attempts", "next_attempt_at", "delivered_at")
    list_filter = ("status", "type", ("created_at", DateRangeFilter))
    search_fields = ("message_id", "dedupe_key")
    ordering = ("-created_at", "-id")
    readonly_fields = [f.name for f in StorefrontEvent._meta.fields]
    inlines = [StorefrontDeliveryInline]
    actions = ["replay"]

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.replay_storefrontevent")

    @admin.action(description="Send selected events again (dead or delivered)", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[StorefrontEvent]) -> None:
        report = apply_each(
            self,
            request,
            queryset.order_by("id"),
            _replay,
            log_message=lambda event, _: "Queued for sending again",
            reasons={"in_flight": "still on its way"},
        )
        tell(self, request, report, "event", "queued for sending again")
