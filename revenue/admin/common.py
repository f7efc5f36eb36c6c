"""What the revenue admins share: the signed-in user, creator search by indexed ids, links, a transaction's journal."""

from __future__ import annotations

import json
from typing import cast

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.admin.options import get_content_type_for_model
from django.contrib.auth import get_user_model
from django.db.models import Model, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html

from core.tables import CSV_TYPE, XLSX_TYPE, Table, table_csv, table_xlsx
from core.users import User

from ..models import LedgerEntry, LedgerTransaction

CREATOR_SEARCH = ("creator__username", "creator__first_name", "creator__last_name", "creator__phone_number")


def creators_matching(word: str) -> list[int]:
    """Ids of the users whose username, name or phone contains ``word``.

    Read first, from the small users table, so that a big table is then filtered by its
    indexed ``creator_id``: an OR across a join would scan every payout or fee row.
    """
    match = Q()
    for field in CREATOR_SEARCH:
        match |= Q(**{f"{field.removeprefix('creator__')}__icontains": word})
    return list(get_user_model().objects.filter(match).values_list("pk", flat=True))


def admin_user(request: HttpRequest) -> User:
    """The signed-in user behind an admin page or action.

    ``AdminSite.admin_view`` (which wraps every admin URL, actions included) lets only active
    staff in, so ``request.user`` is never an ``AnonymousUser`` here.
    """
    return cast(User, request.user)


def link(url_name: str, pk: object, text: object) -> str:
    return format_html('<a href="{}">{}</a>', reverse(url_name, args=[pk]), text)


def pretty_json(value: object) -> str:
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))


def journal_for(request: HttpRequest, transactions: QuerySet[LedgerTransaction]) -> list[LedgerTransaction] | None:
    """Ledger transactions with their entries (debits first), for users who may see them (else ``None``).

    Shown on a payment's or payout's page by templates/admin/includes/ledger_transactions.html.
    """
    if not request.user.has_perm("revenue.view_ledgertransaction"):
        return None
    entries = LedgerEntry.objects.select_related("account__creator").order_by("-direction", "id")
    return list(
        transactions.select_related("posted_by")
        .prefetch_related(Prefetch("entries", queryset=entries))
        .order_by("created_at", "id")
    )


def table_download(
    request: HttpRequest, table: Table, *, file_format: str, filename: str, model: type[Model]
) -> HttpResponse:
    """The table as a CSV or XLSX attachment, and an admin log line saying who took it out."""
    if file_format == "xlsx":
        content, content_type = table_xlsx(table), XLSX_TYPE
    else:
        file_format, content, content_type = "csv", table_csv(table), CSV_TYPE
    LogEntry.objects.create(
        user_id=admin_user(request).pk,
        content_type=get_content_type_for_model(model),
        object_repr=table.title[:200],
        action_flag=CHANGE,
        change_message=f"Downloaded {table.title} as {file_format.upper()} ({len(table.rows)} rows)",
    )
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}.{file_format}"'
    return response
