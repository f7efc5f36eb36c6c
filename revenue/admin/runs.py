"""Payout runs in the back-office: the run with its progress and ETA, its lines, and the staff actions
(propose now, drop lines, ask for approval). Approving is the Approvals page's (four eyes)."""

from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from core.admin_base import ReadOnlyAdmin, ReadOnlyTabularInline, apply_each, tell

from ..models import PayoutRun, PayoutRunLine
from ..runs import PayoutRunError, payout_run_ask_approval, payout_run_drop, payout_run_progress, payout_run_propose
from .common import admin_user, link

MANAGE = "revenue.manage_payout_run"


class PayoutRunLineInline(ReadOnlyTabularInline):
    model = PayoutRunLine
    fields = ("position", "creator", "proposed_amount", "status", "payout", "submitted_at", "note")
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[PayoutRunLine]:
        return super().get_queryset(request).select_related("creator", "payout")


@admin.register(PayoutRun)
class PayoutRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "currency", "status", "progress", "created_at", "started_at", "finished_at")
    list_filter = ("status", "currency")
    readonly_fields = ("progress", "approval_link", "cooldowns")
    exclude = ("approval",)
    inlines = [PayoutRunLineInline]
    actions = ["ask_approval"]
    change_list_template = "admin/revenue/payoutrun/change_list.html"

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE)

    @admin.display(description="progress")
    def progress(self, run: PayoutRun) -> str:
        """ "412 payouts, done about Thu 14:00 EAT · 120 submitted, 0 refused, 292 waiting"."""
        p = payout_run_progress(run)
        return f"{p.summary} · {p.submitted} submitted, {p.failed} refused, {p.queued} waiting, {p.dropped} dropped"

    @admin.display(description="approval")
    def approval_link(self, run: PayoutRun) -> str:
        if run.approval_id is None:
            return "not asked yet"
        return format_html("{}", link("admin:revenue_approval_change", run.approval_id, f"Approval #{run.approval_id}"))

    @admin.action(description="Ask another person to approve the selected runs", permissions=["manage"])
    def ask_approval(self, request: HttpRequest, queryset: QuerySet[PayoutRun]) -> None:
        report = apply_each(
            self,
            request,
            queryset,
            lambda run: payout_run_ask_approval(run, by=admin_user(request)),
            log_message=lambda run, approval: f"Asked for approval #{approval.pk}",
        )
        tell(self, request, report, "run", "sent for approval", spell_out_refusals=True)

    def get_urls(self) -> list[URLPattern]:
        return [
            path("propose/", self.admin_site.admin_view(partial(propose_view, self)), name="revenue_payoutrun_propose"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, object] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_propose": self.has_manage_permission(request)}
        return super().changelist_view(request, extra_context)


def propose_view(model_admin: PayoutRunAdmin, request: HttpRequest) -> HttpResponse:
    """Propose a run now, as the weekly schedule does (POST only)."""
    if not model_admin.has_manage_permission(request):
        raise PermissionDenied
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    try:
        run = payout_run_propose(by=admin_user(request))
    except PayoutRunError as exc:
        model_admin.message_user(request, exc.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:revenue_payoutrun_changelist"))
    model_admin.log_addition(request, run, "Proposed a payout run")
    model_admin.message_user(request, f"{run} proposed: {payout_run_progress(run).summary}.", messages.SUCCESS)
    return HttpResponseRedirect(reverse("admin:revenue_payoutrun_change", args=[run.pk]))


@admin.register(PayoutRunLine)
class PayoutRunLineAdmin(ReadOnlyAdmin):
    list_display = ("run", "position", "creator", "proposed_amount", "status", "payout", "submitted_at", "note")
    list_filter = ("status", "run")
    list_select_related = ("run", "creator", "payout")
    search_fields = ("creator__username", "creator__first_name", "creator__last_name")
    ordering = ("-run_id", "position")
    actions = ["drop_lines"]

    def has_manage_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(MANAGE)

    @admin.action(description="Drop the selected lines from their proposed run", permissions=["manage"])
    def drop_lines(self, request: HttpRequest, queryset: QuerySet[PayoutRunLine]) -> None:
        dropped = payout_run_drop(list(queryset), by=admin_user(request), reason=f"by {admin_user(request)}")
        for line in queryset.filter(status=PayoutRunLine.Status.DROPPED, dropped_by=admin_user(request)):
            self.log_change(request, line, "Dropped from its run")
        level = messages.SUCCESS if dropped else messages.WARNING
        self.message_user(request, f"{dropped} line(s) dropped (only lines of a run still proposed can be).", level)
