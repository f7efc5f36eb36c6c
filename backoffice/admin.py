"""Statement reconciliation in the back-office: imports (upload or fetch), their lines and verdicts."""

from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from core.admin_base import ReadOnlyAdmin, apply_each, money_column, require_permission, resolve_one, tell
from core.admin_filters import IsSetFilter, QueueFilter
from core.errors import BlinnoError
from core.money import Currency
from revenue.admin.common import admin_user

from .models import StatementImport, StatementLine
from .reconciliation import (
    StatementAlreadyImported,
    statement_fetch,
    statement_import_csv,
    statement_line_accept,
    statement_line_resolve,
    statement_summary,
)

STATEMENT_MAX_BYTES = 10 * 1024 * 1024
STATEMENT_MAX_DAYS = 93  # ClickPesa's statement endpoint is for reporting periods, not years


def _context(model_admin: admin.ModelAdmin, request: HttpRequest, title: str, **extra: object) -> dict[str, object]:
    return {**model_admin.admin_site.each_context(request), "title": title, "opts": model_admin.opts, **extra}


def _link(url_name: str, pk: object, text: object) -> str:
    return format_html('<a href="{}">{}</a>', reverse(url_name, args=[pk]), text)


class _PeriodForm(forms.Form):
    currency = forms.ChoiceField(choices=Currency.choices, initial=Currency.TZS)
    period_start = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("period_start"), data.get("period_end")
        if start and end:
            if start > end:
                raise forms.ValidationError("The period starts after it ends.")
            if (end - start).days >= STATEMENT_MAX_DAYS:
                raise forms.ValidationError(f"Choose a period of at most {STATEMENT_MAX_DAYS} days.")
        return data


class StatementUploadForm(_PeriodForm):
    file = forms.FileField(help_text="The CSV the ClickPesa merchant dashboard exports.")
    field_order = ["file", "currency", "period_start", "period_end"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # forms.Form's arguments
        super().__init__(*args, **kwargs)
        for name in ("period_start", "period_end"):
            self.fields[name].required = False
            self.fields[name].help_text = "Optional: the first and last dates in the file otherwise."

    def clean_file(self) -> object:
        upload = self.cleaned_data["file"]
        if upload.size > STATEMENT_MAX_BYTES:
            raise forms.ValidationError(f"The file is larger than {STATEMENT_MAX_BYTES // (1024 * 1024)} MB.")
        return upload


class StatementFetchForm(_PeriodForm):
    pass


def statement_import_view(model_admin: admin.ModelAdmin, request: HttpRequest, *, fetch: bool) -> HttpResponse:
    """Upload a statement CSV, or fetch one for a period from ClickPesa, and reconcile it."""
    require_permission(request, "backoffice.import_statement")
    form_class = StatementFetchForm if fetch else StatementUploadForm
    form = form_class(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            if fetch:
                statement = statement_fetch(
                    currency=data["currency"],
                    period_start=data["period_start"],
                    period_end=data["period_end"],
                    by=admin_user(request),
                )
            else:
                statement = statement_import_csv(
                    data["file"].read(),
                    by=admin_user(request),
                    currency=data["currency"],
                    filename=data["file"].name,
                    period_start=data["period_start"],
                    period_end=data["period_end"],
                )
        except StatementAlreadyImported as exc:
            url = reverse("admin:backoffice_statementimport_change", args=[exc.first.pk])
            form.add_error(None, format_html('{} <a href="{}">Open {}</a>.', exc.message, url, exc.first))
        except BlinnoError as exc:
            form.add_error(None, exc.message)
        else:
            summary = statement_summary(statement)
            model_admin.log_addition(request, statement, f"Imported statement: {summary}")
            model_admin.message_user(request, f"{statement} imported: {summary}.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:backoffice_statementimport_change", args=[statement.pk]))
    title = "Fetch a statement from ClickPesa" if fetch else "Upload a ClickPesa statement"
    context = _context(model_admin, request, title, form=form, fetch=fetch)
    return TemplateResponse(request, "admin/backoffice/statementimport/import.html", context)


OUTCOMES = StatementLine.Outcome


class ReconciledLineFilter(IsSetFilter):
    title = "resolved by hand"
    parameter_name = "resolved"
    field_name = "resolved_at"


@admin.register(StatementImport)
class StatementImportAdmin(ReadOnlyAdmin):
    change_list_template = "admin/backoffice/statementimport/change_list.html"
    change_form_template = "admin/backoffice/statementimport/change_form.html"
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[StatementImport]:
        counts = {outcome.value.lower(): Count("lines", filter=Q(lines__outcome=outcome.value)) for outcome in OUTCOMES}
        return super().get_queryset(request).annotate(**counts)

    def _count(self, statement: StatementImport, outcome: str) -> str:
        count = getattr(statement, outcome.lower())
        url = reverse("admin:backoffice_statementline_changelist")
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

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "upload/",
                self.admin_site.admin_view(partial(statement_import_view, self, fetch=False)),
                name="backoffice_statementimport_upload",
            ),
            path(
                "fetch/",
                self.admin_site.admin_view(partial(statement_import_view, self, fetch=True)),
                name="backoffice_statementimport_fetch",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, object] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "can_import": request.user.has_perm("backoffice.import_statement")}
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, object] | None = None
    ) -> HttpResponse:
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
        "order_reference",
        "occurred_at",
        "kind",
        money_column("amount"),
        money_column("our_amount", "our amount"),
        "outcome",
        "settled",
        "ours",
    )
    list_filter = (QueueFilter, "outcome", ReconciledLineFilter, "line_type", "statement")
    search_fields = ("order_reference", "gateway_id", "description")
    ordering = ("statement", "row_number", "id")
    list_select_related = ("payout", "payment", "deposit", "statement")
    change_form_template = "admin/backoffice/statementline/change_form.html"
    actions = ["accept_lines", "resolve_lines"]

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("revenue.reconcile_payout")

    @admin.action(description="Accept the match and reconcile the payout", permissions=["resolve"])
    def accept_lines(self, request: HttpRequest, queryset: QuerySet[StatementLine]) -> None:
        """Each line's payout is reconciled and the line resolved; the list keeps its filters."""
        report = apply_each(
            self,
            request,
            queryset.order_by("id"),
            lambda line: statement_line_accept(line, by=admin_user(request)),
            log_message=lambda line, sentence: sentence,
            reasons={
                "no_payout": "names none of our payouts",
                "matched": "matched already",
                "already_resolved": "resolved already",
            },
        )
        tell(self, request, report, "line", "accepted and its payout reconciled", noun_plural="lines")

    @admin.action(description="Resolve with a note", permissions=["resolve"])
    def resolve_lines(self, request: HttpRequest, queryset: QuerySet[StatementLine]) -> HttpResponse | None:
        """First a page asking for the note (mandatory); then one resolution per line."""
        note = request.POST.get("note", "").strip()
        if "apply" not in request.POST or not note:
            context = _context(
                self,
                request,
                "Resolve statement lines",
                lines=list(queryset.order_by("id")),
                error="A note is required." if "apply" in request.POST else "",
                back=request.get_full_path(),
            )
            return TemplateResponse(request, "admin/backoffice/statementline/resolve.html", context)
        report = apply_each(
            self,
            request,
            queryset.order_by("id"),
            lambda line: statement_line_resolve(line, by=admin_user(request), note=note),
            log_message=lambda line, sentence: sentence,
            reasons={"already_resolved": "resolved already"},
        )
        tell(self, request, report, "line", "resolved")
        return None

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(f"<path:object_id>/{name}/", self.admin_site.admin_view(view), name=f"backoffice_statementline_{name}")
            for name, view in (("accept", self.accept_view), ("resolve", self.resolve_view))
        ]
        return [*own, *super().get_urls()]

    def _line(self, request: HttpRequest, object_id: str) -> StatementLine:
        require_permission(request, "revenue.reconcile_payout")
        line = self.get_object(request, unquote(object_id))
        if line is None:
            raise Http404("No such statement line.")
        return line

    def _back(self, request: HttpRequest, line: StatementLine) -> str:
        # Back to the filtered list the line was opened from, else to the line.
        filters = request.POST.get("_changelist_filters", "")
        if filters:
            return f"{reverse('admin:backoffice_statementline_changelist')}?{filters}"
        return reverse("admin:backoffice_statementline_change", args=[line.pk])

    @method_decorator(require_POST)
    def accept_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        line = self._line(request, object_id)
        by = admin_user(request)
        return resolve_one(
            self, request, line, lambda: statement_line_accept(line, by=by), back=self._back(request, line)
        )

    @method_decorator(require_POST)
    def resolve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        line = self._line(request, object_id)
        note, by = request.POST.get("note", ""), admin_user(request)
        return resolve_one(
            self, request, line, lambda: statement_line_resolve(line, by=by, note=note), back=self._back(request, line)
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, object] | None = None
    ) -> HttpResponse:
        line = self.get_object(request, unquote(object_id))
        if line is not None:
            extra_context = {
                **(extra_context or {}),
                "can_resolve": self.has_resolve_permission(request)
                and line.resolved_at is None
                and line.outcome != OUTCOMES.MATCHED,
                "adjustment_url": self._adjustment_url(request, line),
                "changelist_filters": request.GET.get("_changelist_filters", ""),
            }
        return super().change_view(request, object_id, form_url, extra_context)

    def _adjustment_url(self, request: HttpRequest, line: StatementLine) -> str:
        """The adjustment page prefilled with this line's difference, for Finance (else "")."""
        if not request.user.has_perm("revenue.post_adjustment") or line.amount is None:
            return ""
        difference = abs(line.amount - (line.our_amount or 0))
        if not difference:
            return ""
        reason = f"Statement #{line.statement_id} {line}: ClickPesa {line.amount}, ours {line.our_amount or 0}"
        return (
            f"{reverse('admin:revenue_ledgertransaction_adjust')}?{urlencode({'amount': difference, 'reason': reason})}"
        )

    @admin.display(description="type", ordering="line_type")
    def kind(self, line: StatementLine) -> str:
        return f"{line.line_type} {line.entry}".strip() or "—"

    @admin.display(description="status")
    def settled(self, line: StatementLine) -> str:
        if line.outcome == OUTCOMES.MATCHED:
            return "matched"
        return "resolved" if line.resolved_at else mark_safe('<span class="flag-warning">⚠ open</span>')

    @admin.display(description="our record")
    def ours(self, line: StatementLine) -> str:
        if line.payout_id:
            return _link("admin:revenue_payout_change", line.payout_id, "payout")
        if line.payment_id:
            return _link("admin:payments_payment_change", line.payment_id, "payment")
        if line.deposit_id:
            return _link("admin:revenue_deposit_change", line.deposit_id, "deposit")
        return "—"
