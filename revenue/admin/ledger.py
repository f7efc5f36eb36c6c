"""The ledger in the back-office: accounts, transactions, entries, audits, and the ledger page."""

from __future__ import annotations

from functools import partial

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from core.admin_base import ReadOnlyAdmin, ReadOnlyTabularInline, money_column
from core.admin_filters import DateRangeFilter
from core.money import format_money

from ..ledger import account_balance
from ..models import LedgerAccount, LedgerAuditRun, LedgerEntry, LedgerTransaction
from .common import CREATOR_SEARCH, link, pretty_json
from .exports import LedgerEntryResource, MoneyExportMixin
from .finance_views import revenue_report_view, statement_view, tax_report_view
from .ledger_views import adjustment_view, ledger_audit_view, ledger_view, trial_balance_view


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

    def get_urls(self) -> list[URLPattern]:
        return [
            path("ledger/", self.admin_site.admin_view(partial(ledger_view, self)), name="revenue_ledger"),
            path(
                "ledger/trial-balance/",
                self.admin_site.admin_view(partial(trial_balance_view, self)),
                name="revenue_trial_balance",
            ),
            path(
                "ledger/statement/",
                self.admin_site.admin_view(partial(statement_view, self)),
                name="revenue_statement",
            ),
            path(
                "ledger/revenue/",
                self.admin_site.admin_view(partial(revenue_report_view, self)),
                name="revenue_revenue_report",
            ),
            path("ledger/tax/", self.admin_site.admin_view(partial(tax_report_view, self)), name="revenue_tax_report"),
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerEntry]:
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
        if txn.payout is not None:
            return link("admin:revenue_payout_change", txn.payout_id, txn.payout.reference)
        if txn.payment is not None:
            return link("admin:payments_payment_change", txn.payment_id, txn.payment.reference)
        if txn.deposit is not None:
            return link("admin:revenue_deposit_change", txn.deposit_id, txn.deposit.reference)
        return "—"

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "adjust/",
                self.admin_site.admin_view(partial(adjustment_view, self)),
                name="revenue_ledgertransaction_adjust",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, object] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_adjust": request.user.has_perm("revenue.post_adjustment")}
        return super().changelist_view(request, extra_context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(MoneyExportMixin, ReadOnlyAdmin):
    resource_classes = [LedgerEntryResource]
    list_display = (
        "id",
        "transaction_link",
        "transaction_kind",
        "account",
        "direction",
        money_column("amount", currency="account.currency"),
        "created_at",
    )
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
        return link("admin:revenue_ledgertransaction_change", entry.transaction_id, f"#{entry.transaction_id}")

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
        return pretty_json(run.differences)
