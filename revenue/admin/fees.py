"""Platform fee rows in the back-office, with the totals of the filtered rows."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q, QuerySet, Sum
from django.forms import Media
from django.http import HttpRequest, HttpResponse
from django.template.response import SimpleTemplateResponse

from core.admin_base import ReadOnlyAdmin, money_column, phone_search_term, rate_column
from core.admin_filters import AutocompleteFilter, DateRangeFilter, autocomplete_filter_media

from ..models import Payout, PlatformFee
from .common import CREATOR_SEARCH, creators_matching, link
from .exports import MoneyExportMixin, PlatformFeeResource


@admin.register(PlatformFee)
class PlatformFeeAdmin(MoneyExportMixin, ReadOnlyAdmin):
    resource_classes = [PlatformFeeResource]
    change_list_template = "admin/revenue/platformfee/change_list.html"
    list_display = (
        "id",
        "order_link",
        "creator",
        money_column("subtotal"),
        rate_column(),
        money_column("platform_fee", "platform fee"),
        money_column("creator_amount", "creator amount"),
        "status",
        "payout_link",
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

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[PlatformFee], search_term: str
    ) -> tuple[QuerySet[PlatformFee], bool]:
        """Each word matches a creator or a whole payout reference, by indexed ids (see PayoutAdmin)."""
        search_term = phone_search_term(search_term)
        for word in search_term.split():
            payouts = list(Payout.objects.filter(reference=word.upper()).values_list("pk", flat=True))
            queryset = queryset.filter(Q(creator_id__in=creators_matching(word)) | Q(payout_id__in=payouts))
        return queryset, False

    @property
    def media(self) -> Media:
        return super().media + autocomplete_filter_media(PlatformFee, "creator", self.admin_site)

    @admin.display(description="payout", ordering="payout_id")
    def payout_link(self, fee: PlatformFee) -> str:
        # The reference alone: the payout's full name (amount, status) would push the list past 1366 px.
        payout = fee.payout
        return link("admin:revenue_payout_change", payout.pk, payout.reference) if payout is not None else "—"

    @admin.display(description="order", ordering="order_id")
    def order_link(self, fee: PlatformFee) -> str:
        return link("admin:payments_order_change", fee.order_id, f"#{fee.order_id}")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, object] | None = None) -> HttpResponse:
        """The changelist, with the totals of the filtered rows per currency (one aggregate query).

        Totals are summed over at most the paginator's cap of rows: past it (the whole table of
        millions, unfiltered) the page asks for a narrower filter instead of scanning everything.
        """
        response = super().changelist_view(request, extra_context)
        context = (response.context_data if isinstance(response, SimpleTemplateResponse) else None) or {}
        changelist = context.get("cl")
        if changelist is not None and changelist.paginator.capped:
            context["totals_cap"] = changelist.paginator.CAP
        elif changelist is not None:
            context["totals"] = list(
                changelist.queryset.order_by()
                .values("currency")
                .annotate(rows=Count("id"), platform_fees=Sum("platform_fee"), creator_amounts=Sum("creator_amount"))
                .order_by("currency")
            )
        return response
