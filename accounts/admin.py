from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from core.admin_base import apply_each, phone_search_term, tell
from core.money import format_money
from revenue.models import Payout, PayoutMethod, PlatformFee
from revenue.services import creator_balance, payout_request

from .models import User


@admin.register(User)
class BlinnoUserAdmin(UserAdmin):
    list_display = ("username", "name", "email", "phone_number", "is_creator", "is_staff")
    list_filter = ("is_creator", "is_staff", "groups", "language")
    search_fields = ("username", "first_name", "last_name", "email", "phone_number", "external_id")
    readonly_fields = ("external_id", "creator_money")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Blinno", {"fields": ("external_id", "phone_number", "language", "is_creator", "creator_money")}),
    )
    actions = ["request_payouts"]
    change_form_template = "admin/accounts/user/change_form.html"
    # A creator's page is for the people who help them: contact and money, never a password hash
    # or permission boxes (creators never sign in to the back-office).
    creator_fieldsets = (
        (None, {"fields": ("username", "external_id", "is_creator")}),
        ("Contact", {"fields": ("first_name", "last_name", "email", "phone_number", "language")}),
        ("Money", {"fields": ("creator_money",)}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        if obj is not None and obj.is_creator and not obj.is_staff:
            return self.creator_fieldsets
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            # No "Reset password" button for someone who may not use it (it would end in a 403).
            fieldsets = [
                (name, {**opts, "fields": [f for f in opts["fields"] if f != "password"]}) for name, opts in fieldsets
            ]
        return fieldsets

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, object] | None = None
    ) -> HttpResponse:
        """A creator's page: contact, masked payout methods, balances, earnings, payouts, fee rows, statements."""
        user = self.get_object(request, object_id)
        if user is not None and user.is_creator:
            extra_context = {**(extra_context or {}), **self._creator_dossier(request, user)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _creator_dossier(self, request: HttpRequest, creator: User) -> dict[str, object]:
        can = request.user.has_perm
        today = timezone.localdate()
        last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        earned = PlatformFee.objects.filter(creator=creator, status=PlatformFee.Status.COLLECTED).aggregate(
            total=Sum("creator_amount"), fees=Sum("platform_fee")
        )
        return {
            "creator": creator,
            "methods": list(PayoutMethod.objects.filter(creator=creator).order_by("-is_default", "id"))
            if can("revenue.view_payoutmethod")
            else None,
            "earned": earned,
            "payouts": list(Payout.objects.filter(creator=creator).order_by("-created_at", "-id")[:10])
            if can("revenue.view_payout")
            else None,
            "fee_rows": list(PlatformFee.objects.filter(creator=creator).order_by("-created_at", "-id")[:10])
            if can("revenue.view_platformfee")
            else None,
            "statement_months": [today.strftime("%Y-%m"), last_month] if can("revenue.export_reports") else [],
        }

    def has_request_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("revenue.request_payout")

    @admin.action(description="Request a payout of selected creators' available balance", permissions=["request"])
    def request_payouts(self, request: HttpRequest, queryset: QuerySet[User]) -> HttpResponse | None:
        """First a page asking why (mandatory); then one `payout_request` per creator, to their default method."""
        creators = list(queryset.filter(is_creator=True).order_by("id"))
        reason = request.POST.get("reason", "").strip()
        if "apply" not in request.POST or not reason:
            context = {
                **self.admin_site.each_context(request),
                "title": "Request payouts",
                "opts": self.opts,
                "creators": creators,
                "error": "A reason is required." if "apply" in request.POST else "",
                "changelist_url": reverse("admin:accounts_user_changelist"),
            }
            return TemplateResponse(request, "admin/accounts/user/request_payout.html", context)
        staff = request.user
        assert isinstance(staff, User)
        report = apply_each(
            self,
            request,
            creators,
            lambda creator: payout_request(creator, requested_by=staff, reason=f"Requested by staff: {reason}"),
            log_message=lambda creator, payout: (
                f"Payout {payout.reference} requested: {format_money(payout.amount, payout.currency)} ({reason})"
            ),
            reasons={
                "nothing_available": "nothing available",
                "below_minimum": "below the payout minimum",
                "no_payout_method": "no default payout method",
            },
        )
        tell(self, request, report, "payout", "requested", skip_word="refused", spell_out_refusals=True)
        return None

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[User], search_term: str
    ) -> tuple[QuerySet[User], bool]:
        """Django's search, with a phone number in any Tanzanian form read as the stored one."""
        return super().get_search_results(request, queryset, phone_search_term(search_term))

    @admin.display(description="name", ordering="last_name")
    def name(self, user: User) -> str:
        return user.get_full_name() or "—"

    @admin.display(description="Creator's money (TZS)")
    def creator_money(self, user: User) -> str:
        """Balances as the ledger holds them, with what the creator owes Blinno from reversed sales."""
        if not user.pk or not user.is_creator:
            return "—"
        b = creator_balance(user)
        owes = f" · owes Blinno {format_money(b.receivable, b.currency)}" if b.receivable else ""
        return (
            f"available {format_money(b.available, b.currency)} · pending {format_money(b.pending, b.currency)} · "
            f"in flight {format_money(b.in_flight, b.currency)}{owes}"
        )
