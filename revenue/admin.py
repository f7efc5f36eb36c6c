"""The revenue back-office: payouts, platform fees, the ledger, deposits and statement imports.

Every row here is written by services only, so every admin is read-only (see
admin_base.ReadOnlyAdmin). Staff act through actions and pages that call services:
reconcile, retry and cancel payouts; post an adjustment; run the ledger audit; import a
ClickPesa statement; export the filtered rows.
"""

from __future__ import annotations

import json
from functools import partial

from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from .admin_base import (
    ReadOnlyAdmin,
    ReadOnlyTabularInline,
    apply_each,
    events_and_journal,
    requery_each,
    tell,
)
from .admin_exports import LedgerEntryResource, MoneyExportMixin, PayoutResource, PlatformFeeResource
from .admin_filters import AutocompleteFilter, DateRangeFilter, ReconciledFilter, autocomplete_filter_media
from .admin_views import adjustment_view, ledger_audit_view, ledger_view, statement_import_view
from .ledger import account_balance
from .models import (
    Deposit,
    LedgerAccount,
    LedgerAuditRun,
    LedgerEntry,
    LedgerTransaction,
    Payout,
    PayoutMethod,
    PayoutStatusChange,
    PlatformFee,
    StatementImport,
    StatementLine,
)
from .money import format_money
from .services import (
    RETRYABLE_STATUSES,
    PayoutError,
    creator_balance,
    payout_cancel,
    payout_reconcile,
    payout_requery,
    payout_retry,
)

CREATOR_SEARCH = ("creator__username", "creator__first_name", "creator__last_name", "creator__phone_number")


def _creators_matching(word: str) -> list[int]:
    """Ids of the users whose username, name or phone contains ``word``.

    Read first, from the small users table, so that a big table is then filtered by its
    indexed ``creator_id``: an OR across a join would scan every payout or fee row.
    """
    match = Q()
    for field in CREATOR_SEARCH:
        match |= Q(**{f"{field.removeprefix('creator__')}__icontains": word})
    return list(get_user_model().objects.filter(match).values_list("pk", flat=True))


def _link(url_name: str, pk: object, text: object) -> str:
    return format_html('<a href="{}">{}</a>', reverse(url_name, args=[pk]), text)


def _pretty_json(value: object) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))


# --- Payouts ------------------------------------------------------------------------------


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
        "amount_display",
        "fee_display",
        "status",
        "method_display",
        "paid_at",
        "reconciled",
    )
    list_filter = (
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

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        """Each word matches a whole reference (references are upper case) or ClickPesa id, or a creator.

        Every test is an index lookup, so a search stays fast on a million payouts.
        """
        for word in search_term.split():
            queryset = queryset.filter(
                Q(reference=word.upper()) | Q(gateway_id=word) | Q(creator_id__in=_creators_matching(word))
            )
        return queryset, False

    actions = ["mark_reconciled", "retry_payouts", "requery_payouts", "cancel_payouts"]
    readonly_fields = ("destination", "retried_by_link")
    fieldsets = (
        (None, {"fields": ("reference", "creator", "amount", "currency", "gateway_fee", "status", "needs_review")}),
        ("Destination", {"fields": ("method_kind", "destination", "method_snapshot")}),
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
    def media(self):
        return super().media + autocomplete_filter_media(Payout, "creator", self.admin_site)

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, payout: Payout) -> str:
        return format_money(payout.amount, payout.currency)

    @admin.display(description="ClickPesa fee", ordering="gateway_fee")
    def fee_display(self, payout: Payout) -> str:
        return "—" if payout.gateway_fee is None else format_money(payout.gateway_fee, payout.currency)

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

    @admin.display(description="retried by")
    def retried_by_link(self, payout: Payout) -> str:
        retry = Payout.objects.filter(retry_of=payout).only("pk", "reference").first()
        return _link("admin:revenue_payout_change", retry.pk, retry.reference) if retry else "—"

    def has_reconcile_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("revenue.reconcile_payout")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("revenue.retry_payout")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("revenue.cancel_payout")

    def has_requery_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("revenue.requery_payout")

    def get_urls(self):
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
        ]
        return urls + super().get_urls()

    # The payout page: the row, then its history, events, journal and fee rows.
    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        payout = self.get_object(request, unquote(object_id))
        if payout is not None:
            extra_context = {**(extra_context or {}), **self._dossier(request, payout)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _dossier(self, request: HttpRequest, payout: Payout) -> dict:
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
        context.update(events_and_journal(request, reference=payout.reference, transactions=payout.ledger_transactions))
        if user.has_perm("revenue.view_platformfee"):
            context["fee_rows"] = list(payout.fee_rows.order_by("id"))
        return context

    @admin.action(description="Mark selected payouts reconciled", permissions=["reconcile"])
    def mark_reconciled(self, request: HttpRequest, queryset: QuerySet) -> None:
        report = apply_each(
            self,
            request,
            queryset,
            lambda payout: payout_reconcile(payout, by=request.user),
            log_message=lambda payout, _: "Marked reconciled",
            reasons={"already_reconciled": "already reconciled", "not_final": "not paid or returned"},
        )
        tell(self, request, report, "payout", "marked reconciled")

    @admin.action(description="Retry selected payouts (failed, refunded, reversed)", permissions=["retry"])
    def retry_payouts(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
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
            new = payout_retry(payout, requested_by=request.user, method=mine.get(chosen))
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
    def requery_payouts(self, request: HttpRequest, queryset: QuerySet) -> None:
        """Ask ClickPesa about each payout and apply its answer as a webhook would (source poll)."""
        requery_each(self, request, queryset, payout_requery, "payout")

    @admin.action(description="Cancel selected payouts (not yet submitted)", permissions=["cancel"])
    def cancel_payouts(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
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
            lambda payout: payout_cancel(payout, by=request.user, reason=reason),
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


# --- Platform fees ------------------------------------------------------------------------


@admin.register(PlatformFee)
class PlatformFeeAdmin(MoneyExportMixin, ReadOnlyAdmin):
    resource_classes = [PlatformFeeResource]
    change_list_template = "admin/revenue/platformfee/change_list.html"
    list_display = (
        "id",
        "order_link",
        "creator",
        "transaction_type",
        "subtotal",
        "rate",
        "platform_fee",
        "creator_amount",
        "currency",
        "status",
        "payout",
        "payout_status",
        "created_at",
    )
    list_filter = (
        "status",
        "payout_status",
        "transaction_type",
        ("creator", AutocompleteFilter),
        ("created_at", DateRangeFilter),
        ("collected_at", DateRangeFilter),
        "currency",
    )
    search_fields = (*CREATOR_SEARCH, "payout__reference")  # see get_search_results
    search_help_text = "Part of a creator's name, username or phone, or a whole payout reference"
    list_select_related = ("creator", "payout")
    ordering = ("-created_at", "-id")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        """Each word matches a creator or a whole payout reference, by indexed ids (see PayoutAdmin)."""
        for word in search_term.split():
            payouts = list(Payout.objects.filter(reference=word.upper()).values_list("pk", flat=True))
            queryset = queryset.filter(Q(creator_id__in=_creators_matching(word)) | Q(payout_id__in=payouts))
        return queryset, False

    @property
    def media(self):
        return super().media + autocomplete_filter_media(PlatformFee, "creator", self.admin_site)

    @admin.display(description="order", ordering="order_id")
    def order_link(self, fee: PlatformFee) -> str:
        return _link("admin:payments_order_change", fee.order_id, f"#{fee.order_id}")

    def changelist_view(self, request: HttpRequest, extra_context=None):
        """The changelist, with the totals of the filtered rows per currency (one aggregate query).

        Totals are summed over at most the paginator's cap of rows: past it (the whole table of
        millions, unfiltered) the page asks for a narrower filter instead of scanning everything.
        """
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None and changelist.paginator.capped:
            response.context_data["totals_cap"] = changelist.paginator.CAP
        elif changelist is not None:
            response.context_data["totals"] = list(
                changelist.queryset.order_by()
                .values("currency")
                .annotate(rows=Count("id"), platform_fees=Sum("platform_fee"), creator_amounts=Sum("creator_amount"))
                .order_by("currency")
            )
        return response


# --- Ledger -------------------------------------------------------------------------------


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    change_list_template = "admin/revenue/ledgeraccount/change_list.html"
    list_display = ("kind", "creator", "currency", "balance_display", "created_at")
    list_filter = ("kind", "currency")
    search_fields = ("kind", *CREATOR_SEARCH)
    list_select_related = ("creator",)
    ordering = ("creator_id", "kind", "currency")
    readonly_fields = ("balance_display",)

    @admin.display(description="balance")
    def balance_display(self, account: LedgerAccount) -> str:
        # Platform accounts keep no cached balance (hot rows); account_balance sums their entries.
        return format_money(account_balance(account), account.currency)

    def get_urls(self):
        return [
            path("ledger/", self.admin_site.admin_view(partial(ledger_view, self)), name="revenue_ledger"),
            path(
                "ledger/audit/",
                self.admin_site.admin_view(partial(ledger_audit_view, self)),
                name="revenue_ledger_audit",
            ),
            *super().get_urls(),
        ]


class LedgerEntryInline(ReadOnlyTabularInline):
    model = LedgerEntry
    fields = ("account", "direction", "amount")
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("account__creator")


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    change_list_template = "admin/revenue/ledgertransaction/change_list.html"
    list_display = ("id", "kind", "idempotency_key", "memo", "subject", "posted_by", "created_at")
    list_filter = ("kind", ("created_at", DateRangeFilter))
    search_fields = ("idempotency_key", "memo", "payout__reference", "payment__reference", "deposit__reference")
    list_select_related = ("payment", "payout", "deposit", "posted_by")
    ordering = ("-created_at", "-id")
    inlines = [LedgerEntryInline]
    exclude = ("fingerprint",)

    @admin.display(description="for")
    def subject(self, txn: LedgerTransaction) -> str:
        if txn.payout_id:
            return _link("admin:revenue_payout_change", txn.payout_id, txn.payout.reference)
        if txn.payment_id:
            return _link("admin:payments_payment_change", txn.payment_id, txn.payment.reference)
        if txn.deposit_id:
            return _link("admin:revenue_deposit_change", txn.deposit_id, txn.deposit.reference)
        return "—"

    def get_urls(self):
        return [
            path(
                "adjust/",
                self.admin_site.admin_view(partial(adjustment_view, self)),
                name="revenue_ledgertransaction_adjust",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "can_adjust": request.user.has_perm("revenue.post_adjustment")}
        return super().changelist_view(request, extra_context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(MoneyExportMixin, ReadOnlyAdmin):
    resource_classes = [LedgerEntryResource]
    list_display = ("id", "transaction_link", "transaction_kind", "account", "direction", "amount", "created_at")
    list_filter = (
        "direction",
        "account__kind",
        "account__currency",
        "transaction__kind",
        ("created_at", DateRangeFilter),
    )
    search_fields = ("transaction__idempotency_key", "transaction__memo", "account__creator__username")
    list_select_related = ("transaction", "account__creator")
    ordering = ("-id",)

    @admin.display(description="transaction", ordering="transaction_id")
    def transaction_link(self, entry: LedgerEntry) -> str:
        return _link("admin:revenue_ledgertransaction_change", entry.transaction_id, f"#{entry.transaction_id}")

    @admin.display(description="kind", ordering="transaction__kind")
    def transaction_kind(self, entry: LedgerEntry) -> str:
        return entry.transaction.get_kind_display()


@admin.register(LedgerAuditRun)
class LedgerAuditRunAdmin(ReadOnlyAdmin):
    list_display = ("ran_at", "ok", "accounts_checked", "transactions_checked", "difference_count", "duration_seconds")
    list_filter = ("ok",)
    exclude = ("differences",)
    readonly_fields = ("differences_pretty",)

    @admin.display(description="differences")
    def difference_count(self, run: LedgerAuditRun) -> int:
        return len(run.differences)

    @admin.display(description="differences")
    def differences_pretty(self, run: LedgerAuditRun) -> str:
        return _pretty_json(run.differences)


@admin.register(Deposit)
class DepositAdmin(ReadOnlyAdmin):
    list_display = ("reference", "gateway_id", "amount", "currency", "webhook_event", "created_at")
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


# --- Statement reconciliation -------------------------------------------------------------

OUTCOMES = StatementLine.Outcome


@admin.register(StatementImport)
class StatementImportAdmin(ReadOnlyAdmin):
    change_list_template = "admin/revenue/statementimport/change_list.html"
    change_form_template = "admin/revenue/statementimport/change_form.html"
    list_display = (
        "id",
        "created_at",
        "source",
        "currency",
        "period_start",
        "period_end",
        "imported_by",
        "row_count",
        "matched",
        "amount_differs",
        "status_differs",
        "missing_ours",
        "missing_theirs",
    )
    list_filter = ("source", "currency")
    list_select_related = ("imported_by",)
    search_fields = ("filename",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        counts = {outcome.value.lower(): Count("lines", filter=Q(lines__outcome=outcome.value)) for outcome in OUTCOMES}
        return super().get_queryset(request).annotate(**counts)

    def _count(self, statement: StatementImport, outcome: str) -> str:
        count = getattr(statement, outcome.lower())
        url = reverse("admin:revenue_statementline_changelist")
        return format_html(
            '<a href="{}?statement__id__exact={}&outcome__exact={}">{}</a>', url, statement.pk, outcome, count
        )

    @admin.display(description="matched")
    def matched(self, statement: StatementImport) -> str:
        return self._count(statement, OUTCOMES.MATCHED)

    @admin.display(description="amount differs")
    def amount_differs(self, statement: StatementImport) -> str:
        return self._count(statement, OUTCOMES.AMOUNT_DIFFERS)

    @admin.display(description="status differs")
    def status_differs(self, statement: StatementImport) -> str:
        return self._count(statement, OUTCOMES.STATUS_DIFFERS)

    @admin.display(description="missing on our side")
    def missing_ours(self, statement: StatementImport) -> str:
        return self._count(statement, OUTCOMES.MISSING_OURS)

    @admin.display(description="missing on ClickPesa's side")
    def missing_theirs(self, statement: StatementImport) -> str:
        return self._count(statement, OUTCOMES.MISSING_THEIRS)

    def get_urls(self):
        return [
            path(
                "upload/",
                self.admin_site.admin_view(partial(statement_import_view, self, fetch=False)),
                name="revenue_statementimport_upload",
            ),
            path(
                "fetch/",
                self.admin_site.admin_view(partial(statement_import_view, self, fetch=True)),
                name="revenue_statementimport_fetch",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": request.user.has_perm("revenue.import_statement")}
        return super().changelist_view(request, extra_context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        """The import, its counts per outcome, and the lines that need attention."""
        statement = self.get_object(request, unquote(object_id))
        if statement is not None:
            lines = StatementLine.objects.filter(statement=statement).exclude(outcome=OUTCOMES.MATCHED)
            extra_context = {
                **(extra_context or {}),
                "outcome_links": [(o.label, self._count(statement, o)) for o in OUTCOMES],
                "attention_lines": list(lines.order_by("outcome", "row_number", "id")[:200]),
                "attention_total": lines.count(),
            }
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(StatementLine)
class StatementLineAdmin(ReadOnlyAdmin):
    list_display = (
        "row_number",
        "occurred_at",
        "line_type",
        "entry",
        "order_reference",
        "amount",
        "our_amount",
        "currency",
        "outcome",
        "detail",
        "ours",
    )
    list_filter = ("outcome", "line_type", "statement")
    search_fields = ("order_reference", "gateway_id", "description")
    ordering = ("statement", "row_number", "id")

    @admin.display(description="our record")
    def ours(self, line: StatementLine) -> str:
        if line.payout_id:
            return _link("admin:revenue_payout_change", line.payout_id, "payout")
        if line.payment_id:
            return _link("admin:payments_payment_change", line.payment_id, "payment")
        if line.deposit_id:
            return _link("admin:revenue_deposit_change", line.deposit_id, "deposit")
        return "—"
