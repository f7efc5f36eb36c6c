"""Finance's monthly pages: a creator's statement, the revenue report, the tax report and tax remittances.

Each view checks its permission, validates a form, calls one service and renders or downloads
its answer; the services own every rule about money.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from core.money import MONEY_DIGITS, Currency

from ..ledger import LedgerError
from ..models import LedgerAccount
from ..reports import revenue_report, tax_report
from ..services import tax_remit
from ..statement_files import PDF_TYPE, statement_filename, statement_pdf, statement_table
from ..statements import creator_statement
from .common import admin_user, table_download

Kind = LedgerAccount.Kind
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def _context(model_admin: admin.ModelAdmin, request: HttpRequest, title: str, **extra: object) -> dict[str, object]:
    return {**model_admin.admin_site.each_context(request), "title": title, "opts": model_admin.opts, **extra}


def _require(request: HttpRequest, permission: str) -> None:
    if not request.user.has_perm(permission):
        raise PermissionDenied


def _last_month() -> str:
    today = timezone.localdate()
    return f"{today.year - 1}-12" if today.month == 1 else f"{today.year}-{today.month - 1:02d}"


class MonthField(forms.CharField):
    """A calendar month written YYYY-MM, cleaned to (year, month)."""

    def __init__(self, **kwargs: Any) -> None:  # forms.CharField's arguments
        super().__init__(max_length=7, help_text="YYYY-MM", **kwargs)

    def clean(self, value: object) -> tuple[int, int]:
        text = str(super().clean(value) or "")
        match = _MONTH.match(text)
        if not match or not 2000 <= int(match.group(1)) <= 2999:
            raise forms.ValidationError("Enter a month as YYYY-MM between 2000-01 and 2999-12, e.g. 2026-03.")
        return int(match.group(1)), int(match.group(2))


FORMATS = [("", "page"), ("csv", "CSV"), ("xlsx", "XLSX"), ("pdf", "PDF")]


class StatementForm(forms.Form):
    creator = forms.ModelChoiceField(queryset=get_user_model().objects.filter(is_creator=True))
    month = MonthField()
    currency = forms.ChoiceField(choices=Currency.choices, initial=Currency.TZS)
    format = forms.ChoiceField(choices=[("", "page"), ("csv", "CSV"), ("pdf", "PDF")], required=False)


def statement_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """A creator's statement for a month, from the journal; ``&format=pdf`` or ``csv`` downloads it (Finance)."""
    _require(request, "revenue.view_ledgeraccount")
    form = StatementForm(request.GET or None, initial={"month": _last_month(), "currency": Currency.TZS})
    statement = None
    if form.is_valid():
        year, month = form.cleaned_data["month"]
        statement = creator_statement(
            form.cleaned_data["creator"], year=year, month=month, currency=form.cleaned_data["currency"]
        )
        file_format = form.cleaned_data["format"]
        if file_format:
            _require(request, "revenue.export_reports")
            if file_format == "pdf":
                model_admin.log_change(request, statement.creator, f"Downloaded statement {statement.period} as PDF")
                response = HttpResponse(statement_pdf(statement), content_type=PDF_TYPE)
                response["Content-Disposition"] = f'attachment; filename="{statement_filename(statement, "pdf")}"'
                return response
            return table_download(
                request,
                statement_table(statement),
                file_format="csv",
                filename=statement_filename(statement, "csv").removesuffix(".csv"),
                model=LedgerAccount,
            )
    context = _context(
        model_admin,
        request,
        "Creator statement",
        form=form,
        statement=statement,
        query=request.GET.urlencode(),
        can_export=request.user.has_perm("revenue.export_reports"),
    )
    return TemplateResponse(request, "admin/revenue/statement.html", context)


class YearForm(forms.Form):
    year = forms.IntegerField(min_value=2000, max_value=2999)
    format = forms.ChoiceField(choices=[("", "page"), ("csv", "CSV"), ("xlsx", "XLSX")], required=False)


def revenue_report_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """Revenue per month and transaction type for a year; ``&format=csv`` or ``xlsx`` downloads it."""
    _require(request, "revenue.export_reports")
    form = YearForm(request.GET or {"year": timezone.localdate().year})
    table = None
    if form.is_valid():
        table = revenue_report(form.cleaned_data["year"])
        if form.cleaned_data["format"]:
            return table_download(
                request,
                table,
                file_format=form.cleaned_data["format"],
                filename=f"revenue-{form.cleaned_data['year']}",
                model=LedgerAccount,
            )
    context = _context(model_admin, request, "Revenue report", form=form, table=table)
    return TemplateResponse(request, "admin/revenue/report.html", context)


class MonthForm(forms.Form):
    month = MonthField()
    format = forms.ChoiceField(choices=[("", "page"), ("csv", "CSV"), ("xlsx", "XLSX")], required=False)


class RemittanceForm(forms.Form):
    tax = forms.ChoiceField(choices=[(Kind.VAT_PAYABLE, "VAT"), (Kind.WHT_PAYABLE, "Withholding tax")])
    currency = forms.ChoiceField(choices=Currency.choices, initial=Currency.TZS)
    amount = forms.DecimalField(max_digits=MONEY_DIGITS, decimal_places=2, min_value=Decimal("0.01"))
    paid_from = forms.ChoiceField(
        choices=[(Kind.GATEWAY_CASH, "ClickPesa balance (gateway cash)"), (Kind.BANK, "Blinno's bank account")]
    )
    reference = forms.RegexField(
        regex=r"^[A-Za-z0-9/_-]{3,40}$",
        help_text="The tax authority's payment (control) number: letters, digits, / _ -",
    )
    note = forms.CharField(max_length=200, help_text="Which period this pays, e.g. VAT 2026-03")


def tax_report_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """VAT and WHT for a month (booked, returned, remitted, due; WHT per creator), and the remittance form.

    POST records a remittance (``revenue.post_adjustment``): the payment to the tax authority.
    """
    _require(request, "revenue.export_reports")
    remittance = RemittanceForm(request.POST or None)
    if request.method == "POST":
        _require(request, "revenue.post_adjustment")
        if remittance.is_valid():
            data = remittance.cleaned_data
            try:
                txn = tax_remit(
                    tax_kind=data["tax"],
                    source_kind=data["paid_from"],
                    currency=data["currency"],
                    amount=data["amount"],
                    reference=data["reference"],
                    note=data["note"],
                    by=admin_user(request),
                )
            except LedgerError as exc:
                remittance.add_error(None, exc.message)
            else:
                model_admin.log_addition(request, txn, f"Recorded tax remittance: {txn.memo}"[:1000])
                model_admin.message_user(request, f"Remittance #{txn.pk} recorded: {txn.memo}", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:revenue_tax_report") + f"?month={_this_month()}")
    form = MonthForm(request.GET or {"month": _last_month()})
    report = None
    if form.is_valid():
        year, month = form.cleaned_data["month"]
        report = tax_report(year, month)
        if form.cleaned_data["format"]:
            return table_download(
                request,
                report.table(),
                file_format=form.cleaned_data["format"],
                filename=f"tax-{year:04d}-{month:02d}",
                model=LedgerAccount,
            )
    context = _context(
        model_admin,
        request,
        "Tax report",
        form=form,
        report=report,
        remittance=remittance,
        can_remit=request.user.has_perm("revenue.post_adjustment"),
    )
    return TemplateResponse(request, "admin/revenue/tax_report.html", context)


def _this_month() -> str:
    today: date = timezone.localdate()
    return f"{today.year}-{today.month:02d}"
