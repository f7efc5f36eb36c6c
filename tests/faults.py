"""Fault injection in the real database: PostgreSQL triggers that raise, and tables that go missing.

Faults live in PostgreSQL, never in patched Python, so the rollback under test is PostgreSQL's
and the code under test runs unchanged:

    with failing_inserts("notifications_notification"):          # every INSERT raises
        post_webhook(client, body)
    with failing_writes("payments_payment", operation="UPDATE"):  # every UPDATE raises
        ...
    with failing_writes("clickpesa_webhookevent", operation="UPDATE", when="NEW.status = 'PROCESSED'"):
        ...
    with failing_commit("notifications_notification"):           # the INSERT succeeds, COMMIT raises
        ...
    with unavailable_table("payments_payment"):                   # any statement touching it raises
        ...

Each context manager installs its fault on the default connection's database and removes it
at the end of the block, whatever happened inside. One fault at a time: they share names.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


class Tries:
    """How many statements the injected trigger has seen (a sequence: rollbacks do not undo it)."""

    def __int__(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM test_fault_tries")
            return cursor.fetchone()[0]


@contextmanager
def failing_writes(
    table: str,
    *,
    operation: str = "INSERT",
    when: str | None = None,
    sqlstate: str = "P0001",
    times: int | None = None,
    deferred: bool = False,
) -> Iterator[Tries]:
    """Make ``operation`` (INSERT, UPDATE or DELETE) on ``table`` raise ``sqlstate`` until the block ends.

    Every such statement raises, or only the first ``times``; ``when`` is a trigger condition
    on NEW/OLD (SQL) that limits the fault to some rows. With ``deferred`` the statement
    succeeds and the transaction's COMMIT raises (a deferred constraint trigger), the last
    moment anything can fail. The error names the table and says how many ledger
    transactions the failing transaction could see, so a test can tell what was written
    before the fault.
    """
    limit = "NULL" if times is None else str(int(times))
    verb = {"INSERT": "insert into", "UPDATE": "update of", "DELETE": "delete from"}[operation]
    kind = "CONSTRAINT TRIGGER" if deferred else "TRIGGER"
    timing = "AFTER" if deferred else "BEFORE"
    deferrable = "DEFERRABLE INITIALLY DEFERRED" if deferred else ""
    condition = f"WHEN ({when})" if when else ""
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE test_fault_tries")
        cursor.execute(
            f"""
            CREATE FUNCTION test_fault() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE limit_ integer := {limit};
            BEGIN
                IF limit_ IS NULL OR nextval('test_fault_tries') <= limit_ THEN
                    IF limit_ IS NULL THEN PERFORM nextval('test_fault_tries'); END IF;
                    RAISE EXCEPTION '{verb} {table} refused by the test; ledger transactions: %',
                        (SELECT count(*) FROM revenue_ledgertransaction) USING ERRCODE = '{sqlstate}';
                END IF;
                RETURN NEW;
            END $$
            """  # noqa: S608 - the table, operation and codes are the test's constants
        )
        cursor.execute(
            f"CREATE {kind} test_fault {timing} {operation} ON {table} {deferrable} "
            f"FOR EACH ROW {condition} EXECUTE FUNCTION test_fault()"
        )
    try:
        yield Tries()
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS test_fault ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS test_fault()")
            cursor.execute("DROP SEQUENCE IF EXISTS test_fault_tries")


@contextmanager
def failing_inserts(table: str, *, sqlstate: str = "P0001", times: int | None = None) -> Iterator[Tries]:
    """Make INSERTs into ``table`` raise ``sqlstate`` (every one, or the first ``times``), until the block ends."""
    with failing_writes(table, operation="INSERT", sqlstate=sqlstate, times=times) as tries:
        yield tries


@contextmanager
def failing_commit(table: str) -> Iterator[Tries]:
    """Let INSERTs into ``table`` run, and make the COMMIT of any transaction that made one raise."""
    with failing_writes(table, operation="INSERT", deferred=True) as tries:
        yield tries


@contextmanager
def unavailable_table(table: str) -> Iterator[None]:
    """Rename ``table`` away for the block: every statement that names it fails (undefined_table).

    A statement the connection has prepared is analysed again by PostgreSQL once a table it
    names changes, so no cached plan still finds the renamed table.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_unavailable")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_unavailable RENAME TO {table}")
