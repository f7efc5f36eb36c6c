"""CSV and XLSX exports of payouts, platform fees and ledger entries (django-import-export).

Exports follow the changelist's filters and search. Cells that a spreadsheet would run as a
formula are neutralised here: these resources prefix a quote to any text starting with "=",
"+", "-", "@", tab or carriage return (OWASP's CSV-injection list). The library's own rule
(settings IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT) is off: it covers "=" alone and turns
every cell into text.

Cells are typed: amounts are numbers and moments are dates in XLSX (the library's native
types for binary formats), so a spreadsheet sums and sorts them; moments are local time
(Africa/Dar_es_Salaam), and CSV writes the zone after each. Coded values (statuses, kinds)
are exported as their labels ("Paid", "Mobile wallet").
"""

from __future__ import annotations

import re

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.options import get_content_type_for_model
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from import_export import fields, resources, widgets
from import_export.admin import ExportActionMixin
from import_export.formats import base_formats

from ..models import LedgerEntry, Payout, PlatformFee
from .common import admin_user

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


EXPORT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %Z"


def moment_field(attribute: str, column_name: str) -> fields.Field:
    """A column of moments: a date in XLSX, local time with its zone in CSV."""
    return fields.Field(attribute=attribute, column_name=column_name, widget=widgets.DateTimeWidget(EXPORT_TIME_FORMAT))


class SpreadsheetSafeResource(resources.ModelResource):
    """A resource whose text cells cannot start a spreadsheet formula, with typed cells and labels."""

    @classmethod
    def widget_kwargs_for_field(cls, field_name: str, django_field: models.Field) -> dict[str, object]:
        kwargs = super().widget_kwargs_for_field(field_name, django_field)
        if isinstance(django_field, models.DateTimeField):
            kwargs.setdefault("format", EXPORT_TIME_FORMAT)
        return kwargs

    def export_field(self, field: fields.Field, instance: object, **kwargs: object) -> object:
        attribute = field.attribute or ""
        # Currencies stay codes ("TZS"), the one code a spreadsheet reader wants as it is.
        if attribute != "currency" and "__" not in attribute and hasattr(instance, f"get_{attribute}_display"):
            value: object = getattr(instance, f"get_{attribute}_display")()
        else:
            value = super().export_field(field, instance, **kwargs)
        if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
            return "'" + value
        return value


class PayoutResource(SpreadsheetSafeResource):
    creator = fields.Field(column_name="creator")
    creator_phone = fields.Field(attribute="creator__phone_number", column_name="creator_phone")
    destination = fields.Field(attribute="destination_label", column_name="destination")
    requested_at = moment_field("created_at", "requested_at")
    reconciled_by = fields.Field(column_name="reconciled_by")
    retry_of = fields.Field(attribute="retry_of__reference", column_name="retry_of")

    class Meta:
        model = Payout
        fields = (
            "reference",
            "creator",
            "creator_phone",
            "amount",
            "currency",
            "gateway_fee",
            "status",
            "method_kind",
            "destination",
            "gateway_id",
            "requested_at",
            "submitted_at",
            "paid_at",
            "returned_at",
            "reconciled_at",
            "reconciled_by",
            "retry_of",
            "needs_review",
            "notes",
        )
        export_order = fields

    def filter_export(self, queryset: QuerySet[Payout], **kwargs: object) -> QuerySet[Payout]:
        return queryset.select_related("creator", "reconciled_by", "retry_of")

    def dehydrate_creator(self, payout: Payout) -> str:
        return str(payout.creator)

    def dehydrate_reconciled_by(self, payout: Payout) -> str:
        return str(payout.reconciled_by) if payout.reconciled_by_id else ""


class PlatformFeeResource(SpreadsheetSafeResource):
    order = fields.Field(attribute="order_id", column_name="order")
    creator = fields.Field(column_name="creator")
    payout = fields.Field(attribute="payout__reference", column_name="payout")

    class Meta:
        model = PlatformFee
        fields = (
            "id",
            "order",
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
            "collected_at",
            "released_at",
            "created_at",
        )
        export_order = fields

    def filter_export(self, queryset: QuerySet[PlatformFee], **kwargs: object) -> QuerySet[PlatformFee]:
        return queryset.select_related("creator", "payout")

    def dehydrate_creator(self, fee: PlatformFee) -> str:
        return str(fee.creator)


class LedgerEntryResource(SpreadsheetSafeResource):
    transaction = fields.Field(attribute="transaction_id", column_name="transaction")
    transaction_kind = fields.Field(attribute="transaction__kind", column_name="transaction_kind")
    idempotency_key = fields.Field(attribute="transaction__idempotency_key", column_name="idempotency_key")
    account = fields.Field(attribute="account_id", column_name="account")
    account_kind = fields.Field(attribute="account__kind", column_name="account_kind")
    creator = fields.Field(column_name="creator")
    currency = fields.Field(attribute="account__currency", column_name="currency")
    memo = fields.Field(attribute="transaction__memo", column_name="memo")
    posted_by = fields.Field(column_name="posted_by")

    class Meta:
        model = LedgerEntry
        fields = (
            "id",
            "transaction",
            "transaction_kind",
            "idempotency_key",
            "account",
            "account_kind",
            "creator",
            "direction",
            "amount",
            "currency",
            "memo",
            "posted_by",
            "created_at",
        )
        export_order = fields

    def filter_export(self, queryset: QuerySet[LedgerEntry], **kwargs: object) -> QuerySet[LedgerEntry]:
        return queryset.select_related("transaction__posted_by", "account__creator")

    def dehydrate_creator(self, entry: LedgerEntry) -> str:
        return str(entry.account.creator) if entry.account.creator_id else ""

    def dehydrate_transaction_kind(self, entry: LedgerEntry) -> str:
        return entry.transaction.get_kind_display()

    def dehydrate_account_kind(self, entry: LedgerEntry) -> str:
        return entry.account.get_kind_display()

    def dehydrate_posted_by(self, entry: LedgerEntry) -> str:
        return str(entry.transaction.posted_by) if entry.transaction.posted_by_id else ""


class MoneyExportMixin(ExportActionMixin):
    """Export the filtered changelist (button) or the selected rows (action) as CSV or XLSX.

    Only holders of `revenue.export_reports` (Finance) see either.
    """

    export_formats = [base_formats.CSV, base_formats.XLSX]
    show_change_form_export = False

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("revenue.export_reports")

    def get_export_data(
        self, file_format: base_formats.Format, request: HttpRequest, queryset: QuerySet, **kwargs: object
    ) -> str | bytes:
        """The file, and an admin log line saying who took which rows out, in which format, with which filters."""
        data = super().get_export_data(file_format, request, queryset, **kwargs)
        rows = queryset.count()
        LogEntry.objects.create(
            user_id=admin_user(request).pk,
            content_type=get_content_type_for_model(self.model),
            object_repr=f"Export of {self.opts.verbose_name_plural}",
            action_flag=CHANGE,
            change_message=f"Exported {rows} {self.opts.verbose_name_plural} as {file_format.get_title().upper()}; "
            f"filters: {request.GET.urlencode() or 'none'}",
        )
        return data

    def get_valid_export_item_pks(self, request: HttpRequest) -> QuerySet:
        # The library's default loads every id of the table to validate the selection; look
        # up only the posted ids, within what this user's changelist may show.
        posted = [pk for pk in request.POST.getlist("export_items") if pk.isdigit()]
        return self.get_export_queryset(request).filter(pk__in=posted).values_list("pk", flat=True)
