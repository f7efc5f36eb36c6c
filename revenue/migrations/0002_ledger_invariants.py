"""The ledger's invariants, enforced by PostgreSQL itself (docs/architecture.md, "The ledger").

1. Every transaction balances per currency and has at least two entries: deferred
   constraint triggers, checked at COMMIT so a service can insert entries one by one.
2. Journal rows are immutable: UPDATE and DELETE are refused (TRUNCATE, used only by
   test database flushes, is not a row operation and stays possible).
3. and 4. (non-negative creator balances, unique idempotency keys) are plain
   constraints on the models.
"""

from django.db import migrations

BALANCED = """
CREATE FUNCTION revenue_ledger_check_balanced() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    txn bigint;
    bad record;
    entry_count integer;
BEGIN
    IF TG_TABLE_NAME = 'revenue_ledgerentry' THEN
        txn := NEW.transaction_id;
    ELSE
        txn := NEW.id;
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
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT ON revenue_ledgerentry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION revenue_ledger_check_balanced();

CREATE CONSTRAINT TRIGGER ledger_transaction_has_entries
    AFTER INSERT ON revenue_ledgertransaction
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION revenue_ledger_check_balanced();
"""

IMMUTABLE = """
CREATE FUNCTION revenue_ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable: % refused; post a correcting transaction instead',
        TG_TABLE_NAME, TG_OP USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER ledger_entry_immutable
    BEFORE UPDATE OR DELETE ON revenue_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION revenue_ledger_refuse_change();

CREATE TRIGGER ledger_transaction_immutable
    BEFORE UPDATE OR DELETE ON revenue_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION revenue_ledger_refuse_change();
"""

DROP = """
DROP TRIGGER IF EXISTS ledger_entry_balanced ON revenue_ledgerentry;
DROP TRIGGER IF EXISTS ledger_transaction_has_entries ON revenue_ledgertransaction;
DROP TRIGGER IF EXISTS ledger_entry_immutable ON revenue_ledgerentry;
DROP TRIGGER IF EXISTS ledger_transaction_immutable ON revenue_ledgertransaction;
DROP FUNCTION IF EXISTS revenue_ledger_check_balanced();
DROP FUNCTION IF EXISTS revenue_ledger_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("revenue", "0001_initial")]

    operations = [migrations.RunSQL(BALANCED + IMMUTABLE, reverse_sql=DROP)]
