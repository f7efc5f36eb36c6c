"""The ledger pages that are not a changelist: the ledger overview and its audit, and the
manual adjustment form.

Each view checks its permission, validates a form, calls one service, writes a LogEntry
and reports with a message; the services own every rule about money.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypedDict, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from core.money import MONEY_DIGITS
from core.users import User

from ..ledger import LedgerError, account_balance, ledger_audit
from ..models import Approval, LedgerAccount, LedgerAuditRun, LedgerEntry
from ..reports import trial_balance_as_of, trial_balance_table
from ..services import ledger_adjust
from .common import admin_user, table_download

Kind = LedgerAccount.Kind
CREATORS_PER_PAGE = 50


def _context(model_admin: admin.ModelAdmin, request: HttpRequest, title: str, **extra: object) -> dict[str, object]:
    return {**model_admin.admin_site.each_context(request), "title": title, "opts": model_admin.opts, **extra}


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


# --- Ledger overview ----------------------------------------------------------------------


class _Balances(TypedDict):
    """One creator's three balances in one currency: a row of the grouped query below."""

    creator_id: int
    currency: str
    pending: Decimal
    available: Decimal
    in_flight: Decimal
    receivable: Decimal


class _CreatorRow(_Balances):
    """The same, with the creator's user for the page."""

    creator: User | None


def _creator_rows(request: HttpRequest) -> tuple[Paginator[_Balances], Page[_Balances], list[_CreatorRow]]:
    """One page of creators with their three balances per currency, largest available first.

    Three queries whatever the number of creators: a count, the grouped page, the page's users.
    """
    owed = LedgerAccount.objects.filter(kind__in=LedgerAccount.CREATOR_KINDS)
    term = request.GET.get("q", "").strip()
    if term:
        owed = owed.filter(
            Q(creator__username__icontains=term)
            | Q(creator__first_name__icontains=term)
            | Q(creator__last_name__icontains=term)
            | Q(creator__phone_number__icontains=term)
        )
    grouped = (
        owed.values("creator_id", "currency")
        .annotate(
            pending=Sum("balance", filter=Q(kind=Kind.CREATOR_PENDING), default=Decimal(0)),
            available=Sum("balance", filter=Q(kind=Kind.CREATOR_AVAILABLE), default=Decimal(0)),
            in_flight=Sum("balance", filter=Q(kind=Kind.CREATOR_PAYOUT_IN_FLIGHT), default=Decimal(0)),
            receivable=Sum("balance", filter=Q(kind=Kind.CREATOR_RECEIVABLE), default=Decimal(0)),
        )
        .order_by("-available", "creator_id", "currency")
    )
    paginator: Paginator[_Balances] = Paginator(grouped, CREATORS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    balances = list(page.object_list)
    users = get_user_model().objects.in_bulk([b["creator_id"] for b in balances])
    rows: list[_CreatorRow] = [{**b, "creator": users.get(b["creator_id"])} for b in balances]
    return paginator, page, rows


def ledger_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Every account's balance: platform accounts one by one, creator accounts totalled per kind
    and listed per creator (paginated), with a trial balance and the last audit's verdict."""
    _require(request, "revenue.view_ledgeraccount")
    platform = list(LedgerAccount.objects.filter(creator__isnull=True).order_by("currency", "kind"))
    for account in platform:
        account.current_balance = account_balance(account)
    totals = list(
        LedgerAccount.objects.filter(kind__in=LedgerAccount.CREATOR_KINDS)
        .values("kind", "currency")
        .annotate(total=Sum("balance"), accounts=Count("id"))
        .order_by("currency", "kind")
    )
    labels = dict(Kind.choices)
    creator_totals = [{**total, "label": labels[total["kind"]]} for total in totals]

    # Trial balance on the normal sides: assets and expenses equal everything owed and earned.
    trial: dict[str, dict[str, Decimal]] = defaultdict(lambda: {"debit": Decimal(0), "credit": Decimal(0)})
    for account in platform:
        side = "debit" if account.is_debit_normal else "credit"
        trial[account.currency][side] += account.current_balance
    for total in totals:
        side = "debit" if total["kind"] in LedgerAccount.DEBIT_NORMAL_KINDS else "credit"
        trial[total["currency"]][side] += total["total"]
    trial_rows = [
        {"currency": cur, **sides, "balanced": sides["debit"] == sides["credit"]}
        for cur, sides in sorted(trial.items())
    ]

    paginator, page, creator_rows = _creator_rows(request)
    context = _context(
        model_admin,
        request,
        "Ledger",
        platform_accounts=platform,
        creator_totals=creator_totals,
        trial_rows=trial_rows,
        creator_rows=creator_rows,
        page=page,
        paginator=paginator,
        query=request.GET.get("q", ""),
        last_audit=LedgerAuditRun.objects.first(),
        can_run_audit=request.user.has_perm("revenue.add_ledgerauditrun"),
        can_adjust=request.user.has_perm("revenue.post_adjustment"),
    )
    return TemplateResponse(request, "admin/revenue/ledger.html", context)


def ledger_audit_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Run `audit_ledger` now and record its verdict (POST only)."""
    _require(request, "revenue.add_ledgerauditrun")
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    run = ledger_audit()
    verdict = "clean" if run.ok else f"{len(run.differences)} difference(s) found"
    model_admin.log_addition(request, run, f"Ran the ledger audit: {verdict}")
    model_admin.message_user(
        request,
        f"Ledger audit: {verdict}; {run.accounts_checked} accounts and {run.transactions_checked} transactions "
        f"checked in {run.duration_seconds:.2f}s.",
        messages.SUCCESS if run.ok else messages.ERROR,
    )
    return HttpResponseRedirect(reverse("admin:revenue_ledger"))


# --- Trial balance at a date ---------------------------------------------------------------


class AsOfForm(forms.Form):
    as_of = forms.DateField(label="As of the end of", widget=forms.DateInput(attrs={"type": "date"}))
    format = forms.ChoiceField(choices=[("", "page"), ("csv", "CSV"), ("xlsx", "XLSX")], required=False)

    def clean_as_of(self) -> date:
        day: date = self.cleaned_data["as_of"]
        # The calendar's edges have no instant after them (and the first day none before it in UTC).
        if not date.min + timedelta(days=1) < day < date.max:
            raise forms.ValidationError("Pick a date between 0001-01-03 and 9999-12-30.")
        return day


def trial_balance_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Every account's balance at the end of a day, from the journal; debits equal credits per currency.

    ``?as_of=YYYY-MM-DD`` (today by default); ``&format=csv`` or ``xlsx`` downloads it (Finance).
    """
    _require(request, "revenue.view_ledgeraccount")
    form = AsOfForm(request.GET or {"as_of": timezone.localdate()})
    balance = None
    if form.is_valid():
        day = form.cleaned_data["as_of"]
        balance = trial_balance_as_of(day)
        file_format = form.cleaned_data["format"]
        if file_format:
            _require(request, "revenue.export_reports")
            table = trial_balance_table(balance, day=day)
            return table_download(
                request, table, file_format=file_format, filename=f"trial-balance-{day}", model=LedgerAccount
            )
    context = _context(
        model_admin,
        request,
        "Trial balance",
        form=form,
        balance=balance,
        totals=sorted(balance.totals.items()) if balance else [],
        can_export=request.user.has_perm("revenue.export_reports"),
    )
    return TemplateResponse(request, "admin/revenue/trial_balance.html", context)


# --- Manual adjustment --------------------------------------------------------------------


class AdjustmentForm(forms.Form):
    debit_account = forms.ModelChoiceField(queryset=LedgerAccount.objects.select_related("creator"))
    credit_account = forms.ModelChoiceField(queryset=LedgerAccount.objects.select_related("creator"))
    amount = forms.DecimalField(max_digits=MONEY_DIGITS, decimal_places=2, min_value=Decimal("0.01"))
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=400,
        help_text="Why this correction is needed; kept on the transaction and in the admin log.",
    )
    # Makes a double submission post once: the same token is the same idempotency key.
    token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, admin_site: admin.AdminSite, **kwargs: Any) -> None:  # forms.Form's arguments
        super().__init__(*args, **kwargs)
        source = LedgerEntry._meta.get_field("account")
        for name in ("debit_account", "credit_account"):
            widget = AutocompleteSelect(source, admin_site, attrs={"style": "width: 32em"})
            # Declared above as ModelChoiceFields; self.fields holds copies of them.
            widget.choices = cast("forms.ModelChoiceField[LedgerAccount]", self.fields[name]).choices
            self.fields[name].widget = widget

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A reason is required.")
        return reason


def adjustment_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Post a balanced ADJUSTMENT between two accounts with a mandatory reason (`ledger_adjust`), or
    ask for another person's approval when it needs one."""
    _require(request, "revenue.post_adjustment")
    if request.method == "POST":
        form = AdjustmentForm(request.POST, admin_site=model_admin.admin_site)
        if form.is_valid():
            data = form.cleaned_data
            try:
                txn = ledger_adjust(
                    debit_account=data["debit_account"],
                    credit_account=data["credit_account"],
                    amount=data["amount"],
                    reason=data["reason"],
                    by=admin_user(request),
                    idempotency_key=f"adjustment:{data['token'].hex}",
                )
            except LedgerError as exc:
                form.add_error(None, exc.message)
            else:
                summary = f"Dr {data['debit_account']} / Cr {data['credit_account']} {data['amount']}: {data['reason']}"
                if isinstance(txn, Approval):
                    model_admin.message_user(
                        request,
                        f"Approval #{txn.pk} requested: another person must approve this adjustment: {summary}",
                        messages.WARNING,
                    )
                    return HttpResponseRedirect(reverse("admin:revenue_approval_change", args=[txn.pk]))
                model_admin.log_addition(request, txn, f"Posted adjustment: {summary}"[:1000])
                model_admin.message_user(request, f"Adjustment #{txn.pk} posted: {summary}", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:revenue_ledgertransaction_change", args=[txn.pk]))
    else:
        # A statement line's "post an adjustment" link prefills the difference and the reason.
        prefill = {name: request.GET[name] for name in ("amount", "reason") if request.GET.get(name)}
        form = AdjustmentForm(initial={"token": uuid.uuid4(), **prefill}, admin_site=model_admin.admin_site)
    context = _context(
        model_admin, request, "Post a ledger adjustment", form=form, media=model_admin.media + form.media
    )
    return TemplateResponse(request, "admin/revenue/ledgertransaction/adjust.html", context)
