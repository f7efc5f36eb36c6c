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

from django.db import migrations

CHECK = """
CREATE OR REPLACE FUNCTION revenue_ledger_check_balanced() RETURNS trigger
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
    IF current_setting('revenue_ledger.checked', true) = txn::text THEN
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
    PERFORM set_config('revenue_ledger.checked', txn::text, true);
    RETURN NULL;
END;
$$;
"""

FORGET_PER_STATEMENT = """
DROP TRIGGER ledger_entry_forgets_check ON revenue_ledgerentry;
DROP FUNCTION revenue_ledger_forget_check();

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

# 0019's functions and trigger, for going back.
CHECK_PER_TRANSACTION = """
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

DROP TRIGGER ledger_entry_forgets_check ON revenue_ledgerentry;
DROP FUNCTION revenue_ledger_forget_check();

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


class Migration(migrations.Migration):
    dependencies = [("revenue", "0022_payout_queue_indexes")]

    operations = [migrations.RunSQL(CHECK + FORGET_PER_STATEMENT, CHECK_PER_TRANSACTION)]
