"""Changelist filters the built-in ones lack: a date range, a yes/no on a timestamp, and an
autocomplete pick for a foreign key (a creator among thousands of users).

Both range and autocomplete filters render a small GET form that keeps the other
parameters of the changelist, so they combine with every other filter and the search.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import date, timedelta
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters, ModelAdmin
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import AutocompleteSelect
from django.db.models import Field, Model, QuerySet
from django.db.models.fields.related import RelatedField
from django.forms import Media
from django.http import HttpRequest

from core.display import day_start
from core.queues import queue, queues_of


def _kept_parameters(changelist: ChangeList, own: Collection[str]) -> list[tuple[str, str]]:
    """The changelist's other GET parameters, as hidden inputs of a filter's form."""
    return [(name, value) for name, value in changelist.params.items() if name not in own]


class _DateRangeForm(forms.Form):
    start = forms.DateField(required=False)
    end = forms.DateField(required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean() returns
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise forms.ValidationError("The start date is after the end date.")
        return data


_FIRST_DAY = date.min + timedelta(days=1)
_LAST_DAY = date.max - timedelta(days=1)


class DateRangeFilter(admin.FieldListFilter):
    """From/to dates (inclusive, in the site's time zone) on a date-time field."""

    template = "admin/filters/date_range.html"

    def __init__(
        self,
        field: Field,
        request: HttpRequest,
        params: dict[str, list[str]],
        model: type[Model],
        model_admin: ModelAdmin[Any],
        field_path: str,
    ) -> None:
        self.lookup_start = f"{field_path}__date__gte"
        self.lookup_end = f"{field_path}__date__lte"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.form = _DateRangeForm(
            data={
                "start": self._last(self.lookup_start),
                "end": self._last(self.lookup_end),
            }
        )

    def _last(self, name: str) -> str:
        value = self.used_parameters.get(name)
        if isinstance(value, list):
            return value[-1] if value else ""
        return value if isinstance(value, str) else ""

    def expected_parameters(self) -> list[str | None]:
        return [self.lookup_start, self.lookup_end]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.used_parameters:
            return queryset
        if not self.form.is_valid():
            # The changelist answers a bad filter with a redirect to "?e=1", which says nothing:
            # the reason goes with it as a message.
            reasons = " ".join(str(error) for errors in self.form.errors.values() for error in errors)
            messages.error(request, f"The {self.title} filter was not applied: {reasons}")
            raise IncorrectLookupParameters(reasons)
        start: date | None = self.form.cleaned_data["start"]
        end: date | None = self.form.cleaned_data["end"]
        # Bounds as instants (midnight in the site's time zone), not a date() of each row, so
        # that an index on the field serves the range on a table of millions. A bound at the
        # calendar's edge (0001-01-01, 9999-12-31) excludes nothing, and its instant would not
        # fit a date-time once moved to UTC: it is left out.
        if start and start > _FIRST_DAY:
            queryset = queryset.filter(**{f"{self.field_path}__gte": day_start(start)})
        if end and end < _LAST_DAY:
            queryset = queryset.filter(**{f"{self.field_path}__lt": day_start(end + timedelta(days=1))})
        return queryset

    # The stubs narrow choices() to the keys of the built-in filter templates; ours has its own template.
    def choices(self, changelist: ChangeList) -> Iterator[dict[str, object]]:  # type: ignore[override]
        own = [self.lookup_start, self.lookup_end]  # expected_parameters(), as strings
        yield {
            "selected": bool(self.used_parameters),
            "start_name": self.lookup_start,
            "end_name": self.lookup_end,
            "start": self._last(self.lookup_start),
            "end": self._last(self.lookup_end),
            "keep": _kept_parameters(changelist, own),
            "clear_query_string": changelist.get_query_string(remove=own),
        }


class IsSetFilter(admin.SimpleListFilter):
    """Yes/no on whether a nullable timestamp is set; subclass with `title` and `parameter_name`."""

    field_name = ""

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(**{f"{self.field_name}__isnull": False})
        if self.value() == "no":
            return queryset.filter(**{f"{self.field_name}__isnull": True})
        return queryset


class ReconciledFilter(IsSetFilter):
    title = "reconciled"
    parameter_name = "reconciled"
    field_name = "reconciled_at"


class QueueFilter(admin.SimpleListFilter):
    """The rows of one work queue (core.queues): where the home page's counts link to."""

    title = "work queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: ModelAdmin[Any]) -> list[tuple[str, str]]:
        return [(q.key, q.title) for q in queues_of(model_admin.model)]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() is None:
            return queryset
        chosen = queue(self.value() or "")
        if chosen is None or chosen.model is not queryset.model:
            raise IncorrectLookupParameters(f"No work queue {self.value()!r} for this list.")
        return queryset & chosen.rows()


class AutocompleteFilter(admin.FieldListFilter):
    """Pick one related object with the admin's autocomplete widget (the related admin's search).

    The related model's admin needs `search_fields`, and the user its view permission, as
    for `autocomplete_fields`. Add `autocomplete_filter_media(...)` to the ModelAdmin's media.
    """

    template = "admin/filters/autocomplete.html"

    def __init__(
        self,
        field: Field,
        request: HttpRequest,
        params: dict[str, list[str]],
        model: type[Model],
        model_admin: ModelAdmin[Any],
        field_path: str,
    ) -> None:
        # Made for a foreign key (the class docstring): the field it is listed on is a RelatedField.
        related = cast("RelatedField[Any, Any]", field)
        self.lookup = f"{field_path}__{related.target_field.name}__exact"
        super().__init__(field, request, params, model, model_admin, field_path)
        value = self.used_parameters.get(self.lookup)
        last = value[-1] if isinstance(value, list) else value
        self.value: str = last if isinstance(last, str) else ""
        widget = AutocompleteSelect(field, model_admin.admin_site, attrs={"style": "width: 100%"})
        form_field = forms.ModelChoiceField(queryset=related.related_model._default_manager.all(), widget=widget)
        self.form = forms.Form()
        self.form.fields[self.lookup] = form_field
        self.form.initial = {self.lookup: self.value} if self.value else {}

    def expected_parameters(self) -> list[str | None]:
        return [self.lookup]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if not self.value:
            return queryset
        try:
            return queryset.filter(**{self.lookup: int(self.value)})
        except ValueError as exc:
            raise IncorrectLookupParameters(str(exc)) from exc

    # As DateRangeFilter.choices: keys for this filter's own template.
    def choices(self, changelist: ChangeList) -> Iterator[dict[str, object]]:  # type: ignore[override]
        yield {
            "selected": bool(self.value),
            "field": self.form[self.lookup],
            "keep": _kept_parameters(changelist, [self.lookup]),
            "clear_query_string": changelist.get_query_string(remove=[self.lookup]),
        }


def autocomplete_filter_media(model: type[Model], field_name: str, admin_site: admin.AdminSite) -> Media:
    """The scripts and styles an AutocompleteFilter on `model.field_name` needs on the page."""
    return AutocompleteSelect(model._meta.get_field(field_name), admin_site).media
