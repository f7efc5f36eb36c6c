"""Deposits (top-ups of our ClickPesa balance) in the back-office."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_base import ReadOnlyAdmin, money_column
from core.admin_filters import DateRangeFilter

from ..models import Deposit


@admin.register(Deposit)
class DepositAdmin(ReadOnlyAdmin):
    list_display = ("reference", "gateway_id", money_column("amount"), "webhook_event", "created_at")
    list_filter = ("currency", ("created_at", DateRangeFilter))
    search_fields = ("reference", "gateway_id")
    ordering = ("-created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # The event's __str__ needs a few columns, never its body.
        return (
            super()
            .get_queryset(request)
            .select_related("webhook_event")
            .defer("webhook_event__body", "webhook_event__headers", "webhook_event__traceback")
        )
