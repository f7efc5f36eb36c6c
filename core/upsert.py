"""``INSERT ... ON CONFLICT`` for model instances, which Django's ORM cannot say with RETURNING.

Used where a unique index is the arbiter of a race (the webhook inbox, the ledger's
idempotency keys, the notification outbox): one statement both tries the insert and learns
what is there, instead of a SELECT, a savepoint, the INSERT and a caught IntegrityError.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, cast

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
    return next(iter(insert_all_on_conflict([instance], on_conflict=on_conflict)), None)


def insert_all_on_conflict(instances: Sequence[M], *, on_conflict: str) -> list[M]:
    """Insert unsaved instances of one model in one statement; return the rows it returned.

    As :func:`insert_on_conflict`, for many rows: with ``DO NOTHING`` the rows that conflicted
    are missing from the answer, which is how a caller tells what this statement wrote.
    """
    if not instances:
        return []
    model = type(instances[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    # A concrete field is one with a column (Django's ``Field.concrete`` is ``column is not None``).
    columns = [cast(str, f.column) for f in fields]
    row = f"({', '.join(['%s'] * len(fields))})"
    sql = (
        f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "  # noqa: S608 - names from the model
        f"VALUES {', '.join([row] * len(instances))} {on_conflict} RETURNING *"
    )
    values = [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for instance in instances for f in fields]
    # A raw queryset, so that the returned rows are read as models are (JSON, time zones).
    # The default manager is ``objects``: no model this is used with declares another.
    return list(model._default_manager.raw(sql, values))
