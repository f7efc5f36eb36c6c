"""Four-eyes approvals in the back-office: what waits for a second person, and their approve/reject actions."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from core.admin_base import ReadOnlyAdmin, apply_each, tell
from core.admin_filters import DateRangeFilter, QueueFilter

from ..approvals import DECIDE_PERMISSION, approval_approve, approval_reject
from ..models import Approval
from .common import admin_user

REFUSALS = {
    "self_approval": "you asked for it yourself; someone else must decide",
    "decided": "already decided",
    "not_allowed": "you may not decide approvals",
}


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "summary",
        "amount",
        "currency",
        "requested_by",
        "requested_at",
        "decision",
        "decided_by",
        "decided_at",
    )
    list_filter = (QueueFilter, "decision", "kind", "currency", ("requested_at", DateRangeFilter))
    search_fields = ("summary", "reason", "requested_by__username", "decided_by__username")
    list_select_related = ("requested_by", "decided_by")
    actions = ["approve_approvals", "reject_approvals"]

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(DECIDE_PERMISSION)

    @admin.action(description="Approve selected requests (someone else's)", permissions=["decide"])
    def approve_approvals(self, request: HttpRequest, queryset: QuerySet[Approval]) -> None:
        """Approve and carry out each request; the requester's own are refused."""
        report = apply_each(
            self,
            request,
            list(queryset.order_by("id")),
            lambda approval: approval_approve(approval, by=admin_user(request)),
            log_message=lambda approval, done: f"Approved: {done.outcome}",
            reasons=REFUSALS,
        )
        tell(self, request, report, "request", "approved", skip_word="refused", spell_out_refusals=True)

    @admin.action(description="Reject selected requests (someone else's)", permissions=["decide"])
    def reject_approvals(self, request: HttpRequest, queryset: QuerySet[Approval]) -> HttpResponse | None:
        """First a page asking why (mandatory); then one rejection per request."""
        approvals = list(queryset.select_related("requested_by").order_by("id"))
        reason = request.POST.get("reason", "").strip()
        if "apply" not in request.POST or not reason:
            context = {
                **self.admin_site.each_context(request),
                "title": "Reject requests",
                "opts": self.opts,
                "action_name": "reject_approvals",
                "changelist_url": reverse("admin:revenue_approval_changelist"),
                "approvals": approvals,
                "error": "A reason is required." if "apply" in request.POST else "",
            }
            return TemplateResponse(request, "admin/revenue/approval/reject.html", context)
        report = apply_each(
            self,
            request,
            approvals,
            lambda approval: approval_reject(approval, by=admin_user(request), reason=reason),
            log_message=lambda approval, done: f"Rejected: {reason}",
            reasons=REFUSALS,
        )
        tell(self, request, report, "request", "rejected", skip_word="refused", spell_out_refusals=True)
        return None
