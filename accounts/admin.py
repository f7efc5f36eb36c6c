from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse

from core.admin_base import apply_each, phone_search_term, tell
from core.money import format_money
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
