"""The balance check's memo (0019) in one setting, not one setting per ledger transaction.

0019 remembered each passed check in a transaction-local setting named after the ledger
transaction (``revenue_ledger.checked_<id>``). PostgreSQL 15 keeps every custom setting name a
session has used until the session ends, sorts the whole list again each time a name is added,
and walks it at every commit that changed a setting: on a persistent connection (a gunicorn
worker, the settler) each capture made the next one slower. Measured in one session: the first
5,000 names took 1.8 s to add, the next 5,000 3.7 s, the next 5,000 26.8 s, and a commit then
took 3.4 ms.

Now one setting, ``revenue_ledger.checked``, holds the ledger transaction whose check passed
last, and a statement-level trigger empties it before any statement that inserts entries, so an
entry written after a check is checked again as before. ``ledger_post_many`` inserts its
transactions' rows and then their entries, so at commit a transaction is checked about twice
(for its row, then for its first entry) where 0019 checked it once; the check is unchanged.
"""

from importlib import import_module

from django.db import migrations

_0019 = import_module("revenue.migrations.0019_ledger_balance_checked_once_per_transaction")


def _replaced(sql: str, *changes: tuple[str, str]) -> str:
    for old, new in changes:
        if old not in sql:
            raise ValueError(f"0019's check no longer contains {old!r}")
        sql = sql.replace(old, new)
    return sql


# 0019's check with its memo in the one setting.
CHECK = _replaced(
    _0019.CHECK_ONCE,
    ("    memo text;\n", ""),
    ("    memo := 'revenue_ledger.checked_' || txn;\n", ""),
    (
        "IF current_setting(memo, true) = 'yes' THEN",
        "IF current_setting('revenue_ledger.checked', true) = txn::text THEN",
    ),
    ("PERFORM set_config(memo, 'yes', true);", "PERFORM set_config('revenue_ledger.checked', txn::text, true);"),
)

DROP_FORGET = """
DROP TRIGGER ledger_entry_forgets_check ON revenue_ledgerentry;
DROP FUNCTION revenue_ledger_forget_check();
"""

FORGET_PER_STATEMENT = """
-- Any statement inserting entries (COPY included) forgets the last passed check, so an entry
-- written after a check (one made IMMEDIATE by SET CONSTRAINTS) is checked again.
CREATE FUNCTION revenue_ledger_forget_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('revenue_ledger.checked', '', true);
    RETURN NULL;
END;
$$;

CREATE TRIGGER ledger_entry_forgets_check
    BEFORE INSERT ON revenue_ledgerentry
    FOR EACH STATEMENT EXECUTE FUNCTION revenue_ledger_forget_check();
"""


class Migration(migrations.Migration):
    dependencies = [("revenue", "0022_payout_queue_indexes")]

    operations = [
        migrations.RunSQL(CHECK + DROP_FORGET + FORGET_PER_STATEMENT, DROP_FORGET + _0019.CHECK_ONCE + _0019.FORGET)
    ]
