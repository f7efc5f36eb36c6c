"""The notification outbox in the back-office: read-only rows and "resend" for failed ones."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_base import ReadOnlyAdmin, apply_each, tell
from core.admin_filters import DateRangeFilter
from core.errors import BlinnoError

from .models import Notification
from .services import notification_resend


def _resend(notification: Notification) -> None:
    if not notification_resend(notification):
        raise BlinnoError(f"Notification #{notification.pk} is {notification.status}, not FAILED.", code="not_failed")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "recipient", "email", "channel", "language", "status", "attempts")
    list_filter = ("status", "kind", "channel", "language", ("created_at", DateRangeFilter))
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
