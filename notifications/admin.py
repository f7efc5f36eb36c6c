"""The notification outbox in the back-office: read-only rows and "resend" for failed ones."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_base import ReadOnlyAdmin, ReadOnlyTabularInline, apply_each, tell
from core.admin_filters import DateRangeFilter, QueueFilter
from core.errors import BlinnoError

from .models import Notification, StorefrontDelivery, StorefrontEvent
from .services import notification_resend
from .storefront import storefront_event_replay


def _resend(notification: Notification) -> None:
    if not notification_resend(notification):
        raise BlinnoError(f"Notification #{notification.pk} is {notification.status}, not FAILED.", code="not_failed")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "recipient", "email", "channel", "language", "status", "attempts")
    list_filter = (QueueFilter, "status", "kind", "channel", "language", ("created_at", DateRangeFilter))
    search_fields = ("email", "subject", "dedupe_key", "recipient__username", "recipient__phone_number")
    list_select_related = ("recipient",)
    ordering = ("-created_at", "-id")
    actions = ["resend"]

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("notifications.resend_notification")

    @admin.action(description="Resend selected failed notifications", permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        report = apply_each(
            self,
            request,
            queryset.order_by("id"),
            _resend,
            log_message=lambda notification, _: "Queued for resending",
            reasons={"not_failed": "not failed"},
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
