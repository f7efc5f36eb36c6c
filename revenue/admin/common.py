"""What the revenue admins share: the signed-in user, creator search by indexed ids, links, a transaction's journal."""

from __future__ import annotations

import json
from typing import cast

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

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
