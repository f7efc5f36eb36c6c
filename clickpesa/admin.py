"""The webhook inbox in the back-office: read-only events, bodies pretty-printed, and replay."""

from __future__ import annotations

import json
from collections import Counter

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from payments.models import Payment
from revenue.admin_base import ReadOnlyAdmin, apply_each, tell
from revenue.admin_filters import DateRangeFilter
from revenue.models import Deposit, Payout

from .models import WebhookEvent
from .receiver import webhook_event_replay


def _pre(text: str) -> str:
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)


def _pretty(raw: str) -> str:
    """JSON indented when it parses; the raw text otherwise. Always escaped."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return _pre(raw)
    return _pre(json.dumps(parsed, indent=2, ensure_ascii=False))


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "received_at",
        "endpoint",
        "source",
        "event_name",
        "order_reference",
        "gateway_status",
        "checksum_result",
        "status",
        "attempts",
        "duplicate_count",
    )
    list_filter = (
        "endpoint",
        "event_name",
        "status",
        "checksum_result",
        "source",
        ("received_at", DateRangeFilter),
    )
    search_fields = ("order_reference", "dedupe_key", "detail")
    search_help_text = "orderReference, dedupe key or detail"
    ordering = ("-received_at", "-id")
    actions = ["replay_events"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "endpoint",
                    "source",
                    "event_name",
                    "order_reference",
                    "our_record",
                    "gateway_status",
                    "status",
                    "detail",
                )
            },
        ),
        ("Delivery", {"fields": ("received_at", "remote_addr", "checksum_result", "dedupe_key", "duplicate_count")}),
        ("Body", {"fields": ("body_pretty", "headers_pretty")}),
        ("Processing", {"fields": ("attempts", "next_attempt_at", "processed_at", "error", "traceback_pretty")}),
    )
    readonly_fields = ("body_pretty", "headers_pretty", "traceback_pretty", "our_record")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Bodies and tracebacks are read on the event's own page only.
        return super().get_queryset(request).defer("body", "headers", "traceback")

    @admin.display(description="body")
    def body_pretty(self, event: WebhookEvent) -> str:
        return _pretty(event.body)

    @admin.display(description="headers")
    def headers_pretty(self, event: WebhookEvent) -> str:
        return _pre(json.dumps(event.headers, indent=2, ensure_ascii=False, sort_keys=True))

    @admin.display(description="traceback")
    def traceback_pretty(self, event: WebhookEvent) -> str:
        return _pre(event.traceback) if event.traceback else "—"

    @admin.display(description="our record")
    def our_record(self, event: WebhookEvent) -> str:
        if not event.order_reference:
            return "—"
        found = (
            ("payout", Payout.objects.filter(reference=event.order_reference).values_list("pk", flat=True).first()),
            ("payment", Payment.objects.filter(reference=event.order_reference).values_list("pk", flat=True).first()),
            ("deposit", Deposit.objects.filter(reference=event.order_reference).values_list("pk", flat=True).first()),
        )
        urls = {
            "payout": "admin:revenue_payout_change",
            "payment": "admin:payments_payment_change",
            "deposit": "admin:revenue_deposit_change",
        }
        for kind, pk in found:
            if pk is not None:
                return format_html(
                    '<a href="{}">{} {}</a>', reverse(urls[kind], args=[pk]), kind, event.order_reference
                )
        return "none with this reference"

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clickpesa.replay_webhookevent")

    @admin.action(description="Replay selected events (failed, dead, unmatched)", permissions=["replay"])
    def replay_events(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Process each event again through the receiver (idempotent); report where each ended."""
        report = apply_each(
            self,
            request,
            queryset.order_by("id"),
            lambda event: webhook_event_replay(event, by=request.user),
            log_message=lambda event, processing: (
                f"Replayed: now {processing.event.status}" + (" (processing failed again)" if processing.failed else "")
            ),
            reasons={"not_replayable": "not failed, dead or unmatched"},
        )
        tell(self, request, report, "event", "replayed")
        if report.done:
            now = Counter(event.status for event in report.done)
            self.message_user(
                request,
                "Now: " + ", ".join(f"{count} {status}" for status, count in sorted(now.items())),
                messages.INFO,
            )
