"""Payouts in the back-office: the list, the payout page, and retry, cancel, re-query and reconcile."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.forms import Media
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from clickpesa.admin import requery_each, webhook_events_for
from core.admin_base import (
    ReadOnlyAdmin,
    apply_each,
    flag_column,
    money_column,
    phone_search_term,
    require_permission,
    resolve_one,
    tell,
)
from core.admin_filters import (
    AutocompleteFilter,
    DateRangeFilter,
    QueueFilter,
    ReconciledFilter,
    autocomplete_filter_media,
)
from core.privacy import mask_account_number

from ..models import Payout, PayoutMethod, PayoutStatusChange
from ..services import (
    RETRYABLE_STATUSES,
    PayoutError,
    creator_balance,
    payout_cancel,
    payout_reconcile,
    payout_requery,
    payout_retry,
    payout_review_clear,
    payout_submit_now,
    payout_wait_reason,
)
from .common import CREATOR_SEARCH, admin_user, creators_matching, journal_for, link
from .exports import MoneyExportMixin, PayoutResource


def _retry_warning(payout: Payout, retried: bool) -> str:
    """Why the retry page already knows the service will refuse this payout ("" when it should not)."""
    if retried:
        return "already retried"
    if payout.status not in RETRYABLE_STATUSES:
        return f"{payout.get_status_display()}: not a returned payout"
    return ""


@admin.register(Payout)
class PayoutAdmin(MoneyExportMixin, ReadOnlyAdmin):
    resource_classes = [PayoutResource]
    change_form_template = "admin/revenue/payout/change_form.html"
    list_display = (
        "reference",
        "creator",
        money_column("amount"),
        money_column("gateway_fee", "ClickPesa fee"),
        "status_display",
        "method_display",
        "paid_at",
        "reconciled",
    )
    list_filter = (
        QueueFilter,
        "status",
        "method_kind",
        ("created_at", DateRangeFilter),
        ("paid_at", DateRangeFilter),
        ReconciledFilter,
        ("creator", AutocompleteFilter),
        "needs_review",
        "currency",
    )
    search_fields = ("reference", "gateway_id", *CREATOR_SEARCH)  # see get_search_results
    search_help_text = "Whole reference or ClickPesa id, or part of a creator's name, username or phone"
    list_select_related = ("creator",)
    ordering = ("-created_at", "-id")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Payout], search_term: str
    ) -> tuple[QuerySet[Payout], bool]:
        """Each word matches a whole reference (references are upper case) or ClickPesa id, or a creator.

        Every test is an index lookup, so a search stays fast on a million payouts.
        """
        search_term = phone_search_term(search_term)
        for word in search_term.split():
            queryset = queryset.filter(
                Q(reference=word.upper()) | Q(gateway_id=word) | Q(creator_id__in=creators_matching(word))
            )
        return queryset, False

    actions = ["mark_reconciled", "retry_payouts", "requery_payouts", "cancel_payouts"]
    readonly_fields = (
        "destination",
        "destination_details",
        "retried_by_link",
        "needs_review_flag",
        "amount_money",
        "fee_money",
    )
    # The method snapshot is never shown as it is: it holds the full account number (see
    # destination_details and account_number_view).
    fieldsets = (
        (
            None,
            {"fields": ("reference", "creator", "amount_money", "fee_money", "status", "needs_review_flag")},
        ),
        ("Destination", {"fields": ("method_kind", "destination", "destination_details")}),
        ("ClickPesa", {"fields": ("gateway_id", "submission_attempts", "last_error")}),
        (
            "Dates",
            {"fields": ("created_at", "requested_by", "submitted_at", "paid_at", "returned_at")},
        ),
        ("Reconciliation", {"fields": ("reconciled_at", "reconciled_by")}),
        ("Retry", {"fields": ("retry_of", "retried_by_link")}),
        ("Notes", {"fields": ("notes",)}),
    )

    @property
    def media(self) -> Media:
        return super().media + autocomplete_filter_media(Payout, "creator", self.admin_site)

    needs_review_flag = staticmethod(flag_column("needs_review", "needs review", label="Needs review"))
    amount_money = staticmethod(money_column("amount"))
    fee_money = staticmethod(money_column("gateway_fee", "ClickPesa fee"))

    @admin.display(description="status", ordering="status")
    def status_display(self, payout: Payout) -> str:
        """The status, with a warning badge while the payout waits for a person."""
        if payout.needs_review:
            return format_html('{} <span class="flag-warning">⚠ needs review</span>', payout.get_status_display())
        return payout.get_status_display()

    @admin.display(description="method", ordering="method_kind")
    def method_display(self, payout: Payout) -> str:
        return f"{payout.get_method_kind_display()} · {payout.destination_label}"

    @admin.display(description="reconciled", boolean=True, ordering="reconciled_at")
    def reconciled(self, payout: Payout) -> bool:
        return payout.reconciled_at is not None

    @admin.display(description="destination")
    def destination(self, payout: Payout) -> str:
        name = (payout.method_snapshot or {}).get("account_name", "")
        return f"{payout.destination_label} ({name})" if name else payout.destination_label

    @admin.display(description="as requested")
    def destination_details(self, payout: Payout) -> str:
        """The destination snapshot taken at the request, its number masked."""
        snap = payout.method_snapshot or {}
        kind = snap.get("kind", "")
        rows = [
            ("Kind", dict(PayoutMethod.Kind.choices).get(kind, kind)),
            ("Provider", snap.get("provider", "")),
            ("Account number", mask_account_number(snap.get("account_number", ""))),
            ("Account name", snap.get("account_name", "")),
            ("BIC", snap.get("bic", "") or "—"),
        ]
        return format_html_join(mark_safe("<br>"), "{}: {}", rows)

    @admin.display(description="retried by")
    def retried_by_link(self, payout: Payout) -> str:
        retry = Payout.objects.filter(retry_of=payout).only("pk", "reference").first()
        return link("admin:revenue_payout_change", retry.pk, retry.reference) if retry else "—"

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("revenue.reconcile_payout")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("revenue.retry_payout")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("revenue.cancel_payout")

    def has_requery_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("revenue.requery_payout")

    def has_account_number_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("revenue.view_account_number")

    @method_decorator(require_POST)
    def account_number_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The full account number of a payout's destination, for Finance, on a page of its own.

        A POST (a button, never a link a browser may prefetch), logged as a LogEntry on the
        payout before anything is shown.
        """
        if not self.has_account_number_permission(request):
            raise PermissionDenied
        payout = self.get_object(request, unquote(object_id))
        if payout is None:
            raise Http404("No such payout.")
        self.log_change(request, payout, "Viewed the full account number")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Account number of payout {payout.reference}",
            "opts": self.opts,
            "original": payout,
            "snapshot": payout.method_snapshot or {},
        }
        return TemplateResponse(request, "admin/revenue/payout/account_number.html", context)

    def get_urls(self) -> list[URLPattern]:
        urls = [
            path(
                "<path:object_id>/retry/",
                self.admin_site.admin_view(self.retry_view),
                name="revenue_payout_retry",
            ),
            path(
                "<path:object_id>/cancel/",
                self.admin_site.admin_view(self.cancel_view),
                name="revenue_payout_cancel",
            ),
            path(
                "<path:object_id>/submit-now/",
                self.admin_site.admin_view(self.submit_now_view),
                name="revenue_payout_submit_now",
            ),
            path(
                "<path:object_id>/clear-review/",
                self.admin_site.admin_view(self.clear_review_view),
                name="revenue_payout_clear_review",
            ),
            path(
                "<path:object_id>/account-number/",
                self.admin_site.admin_view(self.account_number_view),
                name="revenue_payout_account_number",
            ),
        ]
        return urls + super().get_urls()

    # The payout page: the row, then its history, events, journal and fee rows.
    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, object] | None = None
    ) -> HttpResponse:
        payout = self.get_object(request, unquote(object_id))
        if payout is not None:
            extra_context = {**(extra_context or {}), **self._dossier(request, payout)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _dossier(self, request: HttpRequest, payout: Payout) -> dict[str, object]:
        user = request.user
        retried = Payout.objects.filter(retry_of=payout).exists()
        context = {
            "status_changes": list(payout.status_changes.select_related("changed_by")),
            "balance": creator_balance(payout.creator, currency=payout.currency),
            "can_retry": self.has_retry_permission(request) and payout.status in RETRYABLE_STATUSES and not retried,
            "can_cancel": self.has_cancel_permission(request)
            and payout.status == Payout.Status.PENDING
            and payout.submitted_at is None
            and not payout.submission_attempts,
            "can_reconcile": self.has_reconcile_permission(request)
            and payout.reconciled_at is None
            and payout.status in (Payout.Status.PAID, *Payout.RETURNED_STATUSES),
        }
        context["can_see_account_number"] = self.has_account_number_permission(request)
        context["wait_reason"] = payout_wait_reason(payout)
        context["can_submit_now"] = (
            self.has_retry_permission(request) and payout.status == Payout.Status.PENDING and not payout.submitted_at
        )
        context["can_clear_review"] = payout.needs_review and user.has_perm("revenue.review_payout")
        # "Mark reconciled" returns to the list the payout was opened from, filters kept.
        context["changelist_back"] = (
            reverse("admin:revenue_payout_changelist") + "?" + request.GET.get("_changelist_filters", "")
        ).rstrip("?")
        context["webhook_events"] = webhook_events_for(request, payout.reference)
        context["ledger_transactions"] = journal_for(request, payout.ledger_transactions.all())
        if user.has_perm("revenue.view_platformfee"):
            context["fee_rows"] = list(payout.fee_rows.order_by("id"))
        return context

    @method_decorator(require_POST)
    def submit_now_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Support's "Submit now" for a pending payout ClickPesa does not have yet."""
        require_permission(request, "revenue.retry_payout")
        payout = self._get_or_404(request, object_id)
        back = reverse("admin:revenue_payout_change", args=[payout.pk])
        return resolve_one(self, request, payout, lambda: payout_submit_now(payout, by=admin_user(request)), back=back)

    @method_decorator(require_POST)
    def clear_review_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Take a payout off the review list, with a reason."""
        require_permission(request, "revenue.review_payout")
        payout = self._get_or_404(request, object_id)
        reason = request.POST.get("reason", "")
        back = reverse("admin:revenue_payout_change", args=[payout.pk])
        return resolve_one(
            self, request, payout, lambda: payout_review_clear(payout, by=admin_user(request), reason=reason), back=back
        )

    def _get_or_404(self, request: HttpRequest, object_id: str) -> Payout:
        payout = self.get_object(request, unquote(object_id))
        if payout is None:
            raise Http404("No such payout.")
        return payout

    @admin.action(description="Mark selected payouts reconciled", permissions=["reconcile"])
    def mark_reconciled(self, request: HttpRequest, queryset: QuerySet[Payout]) -> None:
        report = apply_each(
            self,
            request,
            queryset,
            lambda payout: payout_reconcile(payout, by=admin_user(request)),
            log_message=lambda payout, _: "Marked reconciled",
            reasons={"already_reconciled": "already reconciled", "not_final": "not paid or returned"},
        )
        tell(self, request, report, "payout", "marked reconciled")

    @admin.action(description="Retry selected payouts (failed, refunded, reversed)", permissions=["retry"])
    def retry_payouts(self, request: HttpRequest, queryset: QuerySet[Payout]) -> HttpResponse | None:
        """First a page to pick each payout's destination; then one `payout_retry` per payout."""
        payouts = list(queryset.select_related("creator").order_by("id"))
        methods = PayoutMethod.objects.filter(creator__in={p.creator_id for p in payouts}).order_by("-is_default", "id")
        by_creator: dict[int, list[PayoutMethod]] = {}
        for method in methods:
            by_creator.setdefault(method.creator_id, []).append(method)
        if "apply" not in request.POST:
            retried = set(Payout.objects.filter(retry_of__in=payouts).values_list("retry_of_id", flat=True))
            rows = [
                {
                    "payout": p,
                    "methods": by_creator.get(p.creator_id, []),
                    "warning": _retry_warning(p, p.pk in retried),
                }
                for p in payouts
            ]
            return self._intermediate(
                request, "admin/revenue/payout/retry.html", "Retry payouts", "retry_payouts", rows=rows
            )

        def retry(payout: Payout) -> Payout:
            chosen = request.POST.get(f"method_{payout.pk}", "")
            mine = {str(m.pk): m for m in by_creator.get(payout.creator_id, [])}
            if chosen and chosen not in mine:
                raise PayoutError("That payout method is not one of the creator's.", code="wrong_method")
            new = payout_retry(payout, requested_by=admin_user(request), method=mine.get(chosen))
            self.log_addition(request, new, f"Retry of {payout.reference}")
            return new

        report = apply_each(
            self,
            request,
            payouts,
            retry,
            log_message=lambda payout, new: f"Retried as {new.reference} to {new.destination_label}",
            reasons={
                "already_retried": "already retried",
                "not_returned": "not failed, refunded or reversed",
                "insufficient_balance": "balance no longer covers it",
                "wrong_method": "not one of the creator's methods",
                "no_payout_method": "creator has no default payout method",
            },
        )
        tell(self, request, report, "payout", "retried", skip_word="refused", spell_out_refusals=True)
        return None

    @admin.action(description="Re-query ClickPesa about selected payouts", permissions=["requery"])
    def requery_payouts(self, request: HttpRequest, queryset: QuerySet[Payout]) -> None:
        """Ask ClickPesa about each payout and apply its answer as a webhook would (source poll)."""
        requery_each(
            self,
            request,
            queryset,
            payout_requery,
            "payout",
            next_step="It never reached ClickPesa: open the payout to see why it waits, then submit it now.",
        )

    @admin.action(description="Cancel selected payouts (not yet submitted)", permissions=["cancel"])
    def cancel_payouts(self, request: HttpRequest, queryset: QuerySet[Payout]) -> HttpResponse | None:
        """First a page asking why (mandatory); then one `payout_cancel` per payout."""
        payouts = list(queryset.select_related("creator").order_by("id"))
        reason = request.POST.get("reason", "").strip()
        if "apply" not in request.POST or not reason:
            error = "A reason is required." if "apply" in request.POST else ""
            rows = [{"payout": p} for p in payouts]
            return self._intermediate(
                request, "admin/revenue/payout/cancel.html", "Cancel payouts", "cancel_payouts", rows=rows, error=error
            )
        report = apply_each(
            self,
            request,
            payouts,
            lambda payout: payout_cancel(payout, by=admin_user(request), reason=reason),
            log_message=lambda payout, _: f"Cancelled: {reason}",
            reasons={"submitted": "already submitted to ClickPesa", "not_pending": "not pending"},
        )
        tell(self, request, report, "payout", "cancelled", skip_word="refused", spell_out_refusals=True)
        return None

    def _intermediate(
        self, request: HttpRequest, template: str, title: str, action_name: str, **extra: object
    ) -> TemplateResponse:
        """A confirmation page whose form posts the action again, with "apply", to the changelist."""
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "action_name": action_name,
            "changelist_url": reverse("admin:revenue_payout_changelist"),
            **extra,
        }
        return TemplateResponse(request, template, context)

    def _single(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        """The retry or cancel page for one payout, reached from its change page."""
        if not getattr(self, f"has_{action}_permission")(request):
            raise PermissionDenied
        queryset = self.get_queryset(request).filter(pk=unquote(object_id))
        return getattr(self, f"{action}_payouts")(request, queryset)

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._single(request, object_id, "retry")

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._single(request, object_id, "cancel")


@admin.register(PayoutStatusChange)
class PayoutStatusChangeAdmin(ReadOnlyAdmin):
    list_display = ("payout", "from_status", "to_status", "source", "changed_by", "note", "created_at")
    list_filter = ("source", "to_status", ("created_at", DateRangeFilter))
    search_fields = ("payout__reference", "note")
    list_select_related = ("payout", "changed_by")


@admin.register(PayoutMethod)
class PayoutMethodAdmin(ReadOnlyAdmin):
    list_display = ("creator", "kind", "provider", "masked_destination", "account_name", "is_default", "created_at")
    list_filter = ("kind", "is_default", "provider")
    search_fields = (*CREATOR_SEARCH, "account_name")
    list_select_related = ("creator",)
    exclude = ("account_number",)
    readonly_fields = ("masked_destination",)
