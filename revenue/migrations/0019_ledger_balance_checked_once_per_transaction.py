"""The balance check runs once per ledger transaction at commit, not once per entry.

The deferred constraint triggers of ``0002_ledger_invariants`` fire for the transaction row
and for every entry, and each firing recounted and re-summed the whole transaction: a
capture with four entries was checked five times. At commit all of a transaction's entries
are in place, so the first check that passes speaks for all of them; it is remembered in a
transaction-local setting (``set_config(..., true)``: gone at commit or rollback, rolled
back with a savepoint). The check itself is unchanged, and an entry added to a transaction
later (a later statement, a later database transaction) clears the memo and is checked again.
"""

from django.db import migrations

CHECK_ONCE = """
CREATE OR REPLACE FUNCTION revenue_ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    txn bigint;
    bad record;
    entry_count integer;
    memo text;
BEGIN
    IF TG_TABLE_NAME = 'revenue_ledgerentry' THEN
        txn := NEW.transaction_id;
    ELSE
        txn := NEW.id;
    END IF;
    memo := 'revenue_ledger.checked_' || txn;
    IF current_setting(memo, true) = 'yes' THEN
        RETURN NULL;
    END IF;
    SELECT count(*) INTO entry_count FROM revenue_ledgerentry WHERE transaction_id = txn;
    IF entry_count < 2 THEN
        RAISE EXCEPTION 'ledger transaction % has % entries; at least 2 are required', txn, entry_count
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    SELECT a.currency,
           SUM(CASE WHEN e.direction = 'DEBIT' THEN e.amount ELSE -e.amount END) AS net
      INTO bad
      FROM revenue_ledgerentry e JOIN revenue_ledgeraccount a ON a.id = e.account_id
     WHERE e.transaction_id = txn
     GROUP BY a.currency
    HAVING SUM(CASE WHEN e.direction = 'DEBIT' THEN e.amount ELSE -e.amount END) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % does not balance in %: debits minus credits = %',
            txn, bad.currency, bad.net USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    PERFORM set_config(memo, 'yes', true);
    RETURN NULL;
END;
$$;

"""

FORGET = """
-- A new entry forgets the memo of its transaction, so an entry written after a check (one made
-- IMMEDIATE by SET CONSTRAINTS, or in a later statement) is checked again with the others.
CREATE FUNCTION revenue_ledger_forget_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('revenue_ledger.checked_' || NEW.transaction_id, '', true);
    RETURN NEW;
END;
$$;

CREATE TRIGGER ledger_entry_forgets_check
    BEFORE INSERT ON revenue_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION revenue_ledger_forget_check();
"""

# The check of 0002, every firing: the memo's lines taken out.
CHECK_EVERY_TIME = (
    CHECK_ONCE.replace("    memo text;\n", "")
    .replace("    memo := 'revenue_ledger.checked_' || txn;\n", "")
    .replace("    IF current_setting(memo, true) = 'yes' THEN\n        RETURN NULL;\n    END IF;\n", "")
    .replace("    PERFORM set_config(memo, 'yes', true);\n", "")
)

REVERSE = """
DROP TRIGGER IF EXISTS ledger_entry_forgets_check ON revenue_ledgerentry;
DROP FUNCTION IF EXISTS revenue_ledger_forget_check();
"""


class Migration(migrations.Migration):
    dependencies = [("revenue", "0018_collection_write_offs_and_review_permission")]

    operations = [migrations.RunSQL(CHECK_ONCE + FORGET, REVERSE + CHECK_EVERY_TIME)]
