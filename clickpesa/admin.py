"""The webhook inbox in the back-office: read-only events, bodies pretty-printed, and replay.

Also what domain admins use to show ClickPesa's side of a row: its events, and Support's
"Re-query ClickPesa" action.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from core.admin_base import REFUSALS_SHOWN, ReadOnlyAdmin, apply_each, require_permission, resolve_one, tell
from core.admin_filters import DateRangeFilter, QueueFilter
from core.errors import BlinnoError
from core.privacy import mask_account_numbers

from . import registry
from .inbox import dismiss, link, replay
from .models import WebhookEvent
from .polling import PollResult


def _pre(text: str) -> str:
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)


def _pretty(raw: str) -> str:
    """JSON indented, account numbers masked, when it parses; the raw text otherwise. Always escaped."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return _pre(raw)
    return _pre(json.dumps(mask_account_numbers(parsed), indent=2, ensure_ascii=False))


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
        QueueFilter,
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
    change_form_template = "admin/clickpesa/webhookevent/change_form.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "endpoint",
                    "source",
                    "event_name",
                    "order_reference",
                    "linked_reference",
                    "our_record",
                    "gateway_status",
                    "status",
                    "detail",
                )
            },
        ),
        (
            "Delivery",
            {
                "fields": (
                    "received_at",
                    "remote_addr",
                    "checksum_result",
                    "dedupe_key",
                    "duplicate_count",
                    "body_sha256",
                )
            },
        ),
        ("Body", {"fields": ("body_pretty", "headers_pretty")}),
        ("Processing", {"fields": ("attempts", "next_attempt_at", "processed_at", "error", "traceback_pretty")}),
    )
    readonly_fields = ("body_pretty", "headers_pretty", "traceback_pretty", "our_record")

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEvent]:
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
        reference = event.linked_reference or event.order_reference
        subject = registry.find_subject(reference) if reference else None
        if subject is None:
            return "none with this reference" if reference else "—"
        meta = subject._meta
        try:
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[quote(subject.pk)])
        except NoReverseMatch:
            return str(subject)
        linked = " (linked by staff)" if event.linked_reference else ""
        return format_html('<a href="{}">{} {}</a>{}', url, meta.verbose_name, reference, linked)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clickpesa.replay_webhookevent")

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(f"<path:object_id>/{name}/", self.admin_site.admin_view(view), name=f"clickpesa_webhookevent_{name}")
            for name, view in (("replay", self.replay_view), ("dismiss", self.dismiss_view), ("link", self.link_view))
        ]
        return [*own, *super().get_urls()]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, object] | None = None
    ) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_replay": self.has_replay_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _event(self, request: HttpRequest, object_id: str) -> WebhookEvent:
        require_permission(request, "clickpesa.replay_webhookevent")
        event = self.get_object(request, unquote(object_id))
        if event is None:
            raise Http404("No such event.")
        return event

    @method_decorator(require_POST)
    def replay_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Replay one event from its own page and say where it ended."""
        event = self._event(request, object_id)

        def replay_one() -> str:
            processing = replay(event, by=request.user)
            if processing.failed:
                raise BlinnoError(
                    f"Event #{event.pk} replayed, and processing failed again: {event.error or event.detail}",
                    code="failed",
                )
            return f"Event #{event.pk} replayed: now {event.get_status_display()}" + (
                f" ({event.detail})" if event.detail else ""
            )

        back = reverse("admin:clickpesa_webhookevent_change", args=[event.pk])
        return resolve_one(self, request, event, replay_one, back=back)

    @method_decorator(require_POST)
    def link_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Point an unmatched event at one of our references and replay it."""
        event = self._event(request, object_id)
        reference = request.POST.get("reference", "")

        def link_one() -> str:
            processing = link(event, reference, by=request.user)
            if processing.failed:
                raise BlinnoError(
                    f"Event #{event.pk} linked to {event.linked_reference}, and processing failed: "
                    f"{event.error or event.detail}",
                    code="failed",
                )
            return (
                f"Event #{event.pk} linked to {event.linked_reference} and replayed: now {event.get_status_display()}"
                + (f" ({event.detail})" if event.detail else "")
            )

        back = reverse("admin:clickpesa_webhookevent_change", args=[event.pk])
        return resolve_one(self, request, event, link_one, back=back)

    @method_decorator(require_POST)
    def dismiss_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Close a failed, dead or unmatched event without applying it, with a reason."""
        event = self._event(request, object_id)
        reason = request.POST.get("reason", "")
        back = reverse("admin:clickpesa_webhookevent_change", args=[event.pk])
        return resolve_one(self, request, event, lambda: dismiss(event, reason=reason, by=request.user), back=back)

    @admin.action(description="Replay selected events (failed, dead, unmatched)", permissions=["replay"])
    def replay_events(self, request: HttpRequest, queryset: QuerySet[WebhookEvent]) -> None:
        """Process each event again through the receiver (idempotent); report where each ended."""
        report = apply_each(
            self,
            request,
            queryset.order_by("id"),
            lambda event: replay(event, by=request.user),
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


def webhook_events_for(request: HttpRequest, reference: str) -> list[WebhookEvent] | None:
    """The events of an orderReference, oldest first, for users who may see them (else ``None``).

    Shown on a payment's or payout's page by templates/admin/includes/webhook_events.html.
    """
    if not request.user.has_perm("clickpesa.view_webhookevent"):
        return None
    return list(
        WebhookEvent.objects.filter(Q(order_reference=reference) | Q(linked_reference=reference))
        .defer("body", "headers", "traceback")
        .order_by("received_at", "id")
    )


def requery_each(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    requery: Callable[..., PollResult],
    noun: str,
    *,
    next_step: str,
) -> None:
    """Support's "Re-query ClickPesa" for payouts and payments alike: ask about each row, apply
    the answer as a webhook would, and say what ClickPesa said (up to a limit).

    A question ClickPesa never answered, or an answer that it knows nothing of the row, is a
    refusal spelled out with ``next_step`` (never a green success); any other answer is a success.
    """

    def ask(obj: Model) -> PollResult:
        result = requery(obj, by=request.user)
        if result.error:
            raise BlinnoError(f"{result.reference}: {result.detail}", code="query_failed")
        if not result.gateway_status and "submitted again" not in result.detail:
            raise BlinnoError(f"{result.reference}: ClickPesa has no record of it. {next_step}", code="not_found")
        return result

    report = apply_each(
        modeladmin,
        request,
        queryset.order_by("id"),
        ask,
        log_message=lambda obj, result: f"Re-queried ClickPesa: {result.detail}",
        reasons={"query_failed": "ClickPesa did not answer", "not_found": "ClickPesa has no record"},
    )
    tell(modeladmin, request, report, noun, "re-queried", spell_out_refusals=True)
    for obj in report.done[:REFUSALS_SHOWN]:
        result = report.results[obj.pk]
        modeladmin.message_user(request, f"{result.reference}: {result.detail}", messages.INFO)
