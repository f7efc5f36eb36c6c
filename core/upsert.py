"""Set-based writes of model instances that Django's ORM cannot say: ``INSERT ... ON CONFLICT ...
RETURNING`` and an ``UPDATE`` of many rows each with its own values.

``INSERT ... ON CONFLICT`` is used where a unique index is the arbiter of a race (the webhook
inbox, the ledger's idempotency keys, the notification outbox): one statement both tries the
insert and learns what is there, instead of a SELECT, a savepoint, the INSERT and a caught
IntegrityError. Many rows travel as one array per column (``unnest``), so a statement's text
depends on its columns only: psycopg converts it once and PostgreSQL prepares it once, whether
the settler's batch holds one row or fifty (Django's ``bulk_create`` and ``bulk_update`` write a
new text per count, and ``bulk_update`` a ``CASE WHEN`` per row and column).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, TypeVar, cast

from django.db import connection
from django.db.models import Field, Model

M = TypeVar("M", bound=Model)


def insert_on_conflict(instance: M, *, on_conflict: str) -> M | None:
    """Insert the unsaved ``instance`` followed by ``on_conflict`` (``"ON CONFLICT ... DO ..."``).

    Returns the row as the database holds it after the statement (a new model instance, with
    ``auto_now_add`` fields stamped and database converters applied), or ``None`` when the
    statement returned nothing (``DO NOTHING`` on a conflict). The SQL in ``on_conflict`` is
    the caller's, never user input.
    """
    return next(iter(insert_all_on_conflict([instance], on_conflict=on_conflict)), None)


def insert_on_conflict_values(instance: Model, *, on_conflict: str, returning: str) -> tuple[Any, ...] | None:
    """As :func:`insert_on_conflict`, returning only the columns ``returning`` names, as a tuple, not a model.

    For a hot path that needs a row's id and status back, not the whole row read into a model
    (the webhook receiver: reading the row back through ``raw()`` was about a fifth of an
    acknowledgement's time in a profile).
    """
    return next(iter(insert_all_on_conflict_values([instance], on_conflict=on_conflict, returning=returning)), None)


def insert_all_on_conflict_values(
    instances: Sequence[Model], *, on_conflict: str, returning: str
) -> list[tuple[Any, ...]]:
    """As :func:`insert_all_on_conflict`, returning only the columns ``returning`` names, as tuples, not models.

    The notification outbox needs the new rows' ids and statuses, not their bodies read back
    into models.
    """
    if not instances:
        return []
    sql, values = _insert(instances, f"{on_conflict} RETURNING {returning}")
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.fetchall()


def insert_all_on_conflict(instances: Sequence[M], *, on_conflict: str) -> list[M]:
    """Insert unsaved instances of one model in one statement; return the rows it returned.

    As :func:`insert_on_conflict`, for many rows: with ``DO NOTHING`` the rows that conflicted
    are missing from the answer, which is how a caller tells what this statement wrote.
    """
    if not instances:
        return []
    sql, values = _insert(instances, f"{on_conflict} RETURNING *")
    # A raw queryset, so that the returned rows are read as models are (JSON, time zones).
    # The default manager is ``objects``: no model this is used with declares another.
    return list(type(instances[0])._default_manager.raw(sql, values))


def insert_rows(model: type[Model], names: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> None:
    """Insert rows given as tuples of the values of the fields ``names``, in one statement, reading nothing back.

    No model instances: the ledger's entries (five to seven per capture) were built as models
    only to be read back field by field. So ``auto_now_add`` is not applied: name such a field
    and give its value. A foreign key takes the related row's id.
    """
    if not rows:
        return
    fields = _named_fields(model, names)
    sql = _insert_head(model, fields, one_row=False)
    columns = zip(*rows, strict=True)  # a row of the wrong length raises, instead of shifting the columns
    values = [[f.get_db_prep_save(v, connection) for v in column] for f, column in zip(fields, columns, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


def _insert(instances: Sequence[Model], tail: str) -> tuple[str, list[Any]]:
    model = type(instances[0])
    fields = _insert_fields(model)
    if len(instances) == 1:
        values = [f.get_db_prep_save(f.pre_save(instances[0], add=True), connection) for f in fields]
    else:
        values = [[f.get_db_prep_save(f.pre_save(i, add=True), connection) for i in instances] for f in fields]
    return f"{_insert_head(model, fields, one_row=len(instances) == 1)} {tail}", values


@cache
def _insert_fields(model: type[Model]) -> tuple[Field, ...]:
    # A concrete field is one with a column (Django's ``Field.concrete`` is ``column is not None``).
    return tuple(f for f in model._meta.concrete_fields if not f.primary_key)


@cache
def _named_fields(model: type[Model], names: tuple[str, ...]) -> tuple[Field, ...]:
    # Concrete fields only (a reverse relation has no column): the same names bulk_update takes.
    return tuple(cast(Field, model._meta.get_field(name)) for name in names)


@cache
def _insert_head(model: type[Model], fields: tuple[Field, ...], *, one_row: bool) -> str:
    """``INSERT INTO table (columns) VALUES (...)`` or ``... SELECT * FROM unnest(...)``, built once per column set.

    The webhook receiver inserts one row per delivery and the settler several per batch: the
    columns' quoting and types need not be worked out again for each.
    """
    columns = ", ".join(_quoted(f) for f in fields)
    values = f"VALUES ({', '.join(['%s'] * len(fields))})"
    arrays = f"SELECT * FROM unnest({_arrays(fields)})"  # noqa: S608 - types from the model
    return f"INSERT INTO {_table(model)} ({columns}) {values if one_row else arrays}"


def update_all(instances: Sequence[Model], names: Iterable[str]) -> int:
    """Write the fields ``names`` of saved instances of one model, each row its own values, in one statement.

    What ``QuerySet.bulk_update`` does (no ``pre_save``: the caller sets ``updated_at``), as
    ``UPDATE ... FROM unnest(...)``. Returns the number of rows updated.
    """
    if not instances:
        return 0
    model = type(instances[0])
    names = tuple(names)
    if not names:
        return 0
    sql, fields = _update_statement(model, names)
    values = [[f.get_db_prep_save(getattr(i, f.attname), connection) for i in instances] for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.rowcount


@cache
def _update_statement(model: type[Model], names: tuple[str, ...]) -> tuple[str, tuple[Field, ...]]:
    """The ``UPDATE ... FROM unnest(...)`` of ``names`` and the fields whose arrays it takes, primary key first."""
    pk = model._meta.pk
    fields = _named_fields(model, names)
    assignments = ", ".join(f"{_quoted(f)} = v.{_quoted(f)}" for f in fields)
    sql = (
        f"UPDATE {_table(model)} AS t SET {assignments} "  # noqa: S608 - names from the model
        f"FROM unnest({_arrays((pk, *fields))}) AS v({', '.join(_quoted(f) for f in (pk, *fields))}) "
        f"WHERE t.{_quoted(pk)} = v.{_quoted(pk)}"
    )
    return sql, (pk, *fields)


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _quoted(field: Any) -> str:
    return connection.ops.quote_name(field.column)


@cache
def _arrays(fields: tuple[Any, ...]) -> str:
    # One typed array parameter per column ("%s::numeric(20, 2)[]"): an untyped list of NULLs
    # or of text would not tell PostgreSQL the column's type.
    return ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
