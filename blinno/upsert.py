"""``INSERT ... ON CONFLICT`` for one model instance, which Django's ORM cannot say with RETURNING.

Used where a unique index is the arbiter of a race (the webhook inbox, the ledger's
idempotency keys): one statement both tries the insert and learns what is there, instead of a
SELECT, a savepoint, the INSERT and a caught IntegrityError.
"""

from __future__ import annotations

from typing import TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


def insert_on_conflict(instance: M, *, on_conflict: str) -> M | None:
    """Insert the unsaved ``instance`` followed by ``on_conflict`` (``"ON CONFLICT ... DO ..."``).

    Returns the row as the database holds it after the statement (a new model instance, with
    ``auto_now_add`` fields stamped and database converters applied), or ``None`` when the
    statement returned nothing (``DO NOTHING`` on a conflict). The SQL in ``on_conflict`` is
    the caller's, never user input.
    """
    model = type(instance)
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(f.column for f in fields)}) "  # noqa: S608 - names from the model
        f"VALUES ({', '.join(['%s'] * len(fields))}) {on_conflict} RETURNING *"
    )
    values = [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]
    # A raw queryset, so that the returned row is read as a model is (JSON, time zones).
    return next(iter(model.objects.raw(sql, values)), None)
