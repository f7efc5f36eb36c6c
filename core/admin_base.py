"""What every back-office admin shares: read-only money rows and audited, summarised actions.

Admin actions stay thin: they call a service per object, write a LogEntry for each object
the service changed, and tell the user in one line what happened and what was refused
("3 payouts marked reconciled, 1 skipped: already reconciled").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.functional import cached_property
from django.utils.html import format_html

from core.errors import BlinnoError
from core.money import format_money, format_rate
from core.phones import InvalidPhoneNumber, phone_normalize

# How many refusals are spelled out one by one before only the summary is shown.
REFUSALS_SHOWN = 10

M = TypeVar("M", bound=Model)
R = TypeVar("R")


class CappedCountPaginator(Paginator):
    """A paginator that counts at most ``CAP + 1`` rows.

    Counting a million payouts on every page view is what made big changelists slow; past
    the cap, the page says "more than 100,000" (templates/admin/pagination.html) and the
    page links stop there. Filtered lists below the cap are counted exactly.
    """

    CAP = 100_000

    @cached_property
    def count(self) -> int:
        # Unordered: a count needs no sort, and any index may then serve the filters. The admin
        # paginates a changelist's queryset, the only thing this paginator is given.
        queryset = cast("QuerySet[Model]", self.object_list)
        return queryset.order_by()[: self.CAP + 1].count()

    @property
    def capped(self) -> bool:
        return self.count > self.CAP


def money_column(
    field: str, description: str | None = None, *, currency: str = "currency", default_currency: str = "TZS"
) -> Callable[[Model], str]:
    """A changelist or read-only column showing ``field`` as money ("TZS 81,680.00"), never wrapped.

    ``currency`` names the row's currency attribute (a dotted path is followed).
    """

    @admin.display(description=description or field.replace("_", " "), ordering=field)
    def column(obj: Model) -> str:
        value = getattr(obj, field)
        if value is None:
            return "—"
        code: object = obj
        for part in currency.split("."):
            code = getattr(code, part, None)
        return format_html('<span class="money">{}</span>', format_money(value, str(code or default_currency)))

    column.__name__ = field
    return column


def rate_column(field: str = "rate", description: str = "rate") -> Callable[[Model], str]:
    """A column showing a rate kept as a fraction as a percentage ("8 %")."""

    @admin.display(description=description, ordering=field)
    def column(obj: Model) -> str:
        value = getattr(obj, field)
        return "—" if value is None else format_rate(value)

    column.__name__ = field
    return column


def flag_column(field: str, description: str, *, label: str) -> Callable[[Model], str]:
    """A column for a boolean that means trouble: a warning badge when set, "—" otherwise (never a green tick)."""

    @admin.display(description=description, ordering=field)
    def column(obj: Model) -> str:
        return format_html('<span class="flag-warning">⚠ {}</span>', label) if getattr(obj, field) else "—"

    column.__name__ = field
    return column


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that only services write. Staff with the view permission see them; nobody edits.

    Applies to superusers too: money rows, journal rows and webhook bodies are corrected by
    new service calls (adjustments, retries, replays), never by editing or deleting a row.
    """

    show_full_result_count = False  # no second COUNT(*) of the whole table
    paginator = CappedCountPaginator

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        """Django's search, with a phone number in any Tanzanian form read as the stored one."""
        return super().get_search_results(request, queryset, phone_search_term(search_term))


class ReadOnlyTabularInline(admin.TabularInline):
    """Child rows shown on their parent's page; every listed field is read-only."""

    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> tuple[str, ...]:
        return tuple(flatten(self.fields or ()))

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


def phone_search_term(term: str) -> str:
    """A search with a Tanzanian mobile number in any written form ("0754100111", "+255 754 100 111")
    as the stored form ("255754100111"): the whole term first, else word by word."""
    try:
        return phone_normalize(term)
    except InvalidPhoneNumber:
        pass
    words = []
    for word in term.split():
        try:
            words.append(phone_normalize(word))
        except InvalidPhoneNumber:
            words.append(word)
    return " ".join(words)


def require_permission(request: HttpRequest, permission: str) -> None:
    """Refuse (403) a user without ``permission``, naming it: "This needs the permission “Can …”"."""
    if request.user.has_perm(permission):
        return
    app_label, codename = permission.split(".", 1)
    found = Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()
    raise PermissionDenied(f"This needs the permission “{found.name if found else permission}” ({permission}).")


def resolve_one(
    modeladmin: admin.ModelAdmin, request: HttpRequest, obj: Model, service: Callable[[], str], *, back: str
) -> HttpResponse:
    """One resolution of one row, from its page: the service's one-sentence report is logged on the row
    (LogEntry) and shown; a refusal is shown as an error. Then back to ``back``."""
    try:
        report = service()
    except BlinnoError as exc:
        modeladmin.message_user(request, exc.message, messages.ERROR)
    else:
        modeladmin.log_change(request, obj, report)
        modeladmin.message_user(request, report, messages.SUCCESS)
    return HttpResponseRedirect(back)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


@dataclass
class ActionReport(Generic[M, R]):
    """What one admin action did: the objects changed and, per short reason, how many were refused."""

    done: list[M] = field(default_factory=list)
    results: dict[object, R] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    refusals: list[str] = field(default_factory=list)

    def summary(self, noun: str, verb: str, *, noun_plural: str | None = None, skip_word: str = "skipped") -> str:
        """ "3 payouts marked reconciled, 1 skipped: already reconciled"."""
        text = f"{plural(len(self.done), noun, noun_plural)} {verb}"
        if self.skipped:
            reasons = "; ".join(
                reason if count == 1 else f"{reason} ({count})" for reason, count in self.skipped.most_common()
            )
            text += f", {sum(self.skipped.values())} {skip_word}: {reasons}"
        return text

    @property
    def level(self) -> int:
        if not self.skipped:
            return messages.SUCCESS
        return messages.WARNING if self.done else messages.ERROR


def apply_each(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    objects: Iterable[M],
    service: Callable[[M], R],
    *,
    log_message: Callable[[M, R], str],
    reasons: Mapping[str, str] | None = None,
) -> ActionReport[M, R]:
    """Call `service` on each object; log each success as a change; collect each refusal.

    A refusal is a BlinnoError: its `code` maps to a short reason through `reasons` (the
    service's own message otherwise). Each object is its own service call and transaction,
    so one refusal never undoes another object's success.
    """
    report: ActionReport[M, R] = ActionReport()
    for obj in objects:
        try:
            result = service(obj)
        except BlinnoError as exc:
            report.skipped[(reasons or {}).get(exc.code, exc.message)] += 1
            report.refusals.append(exc.message)
            continue
        modeladmin.log_change(request, obj, log_message(obj, result))
        report.done.append(obj)
        report.results[obj.pk] = result
    return report


def tell(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    report: ActionReport[M, R],
    noun: str,
    verb: str,
    *,
    noun_plural: str | None = None,
    skip_word: str = "skipped",
    spell_out_refusals: bool = False,
) -> None:
    """The action's one-line summary, plus each refusal's full message when asked (up to a limit)."""
    summary = report.summary(noun, verb, noun_plural=noun_plural, skip_word=skip_word)
    modeladmin.message_user(request, summary, report.level)
    if spell_out_refusals:
        for message in report.refusals[:REFUSALS_SHOWN]:
            modeladmin.message_user(request, message, messages.ERROR)
