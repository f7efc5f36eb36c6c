"""The balance check is spared when it has just passed (migrations 0019, 0023), and misses nothing.

The ledger transaction whose check passed last is remembered for the rest of the database
transaction in one setting; a statement inserting entries forgets it, so an entry written after
a check (made IMMEDIATE, or in a later database transaction) is checked again with the others.
"""

import pytest
from django.db import IntegrityError, connection, transaction

from revenue.ledger import Post, account_book, credit, debit, ledger_post_many
from revenue.models import LedgerAccount, LedgerEntry, LedgerTransaction
from tests.factories import CreatorFactory

Kind = LedgerAccount.Kind
TxnKind = LedgerTransaction.Kind


def _accounts(creator):
    book = account_book("TZS", creator_ids=[creator.pk], platform_kinds=[Kind.SUSPENSE])
    return book.platform(Kind.SUSPENSE), book.creator(creator.pk, Kind.CREATOR_AVAILABLE)


@pytest.mark.django_db(transaction=True)
def test_an_entry_written_after_an_immediate_check_is_checked_again():
    creator = CreatorFactory()
    suspense, available = _accounts(creator)
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        ledger_post_many([Post(TxnKind.ADJUSTMENT, "checked-then-changed", [debit(suspense, 5), credit(available, 5)])])
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the pending checks run now, and pass
        txn = LedgerTransaction.objects.get(idempotency_key="checked-then-changed")
        LedgerEntry.objects.create(transaction=txn, account=suspense, direction="DEBIT", amount=1)
    assert not LedgerTransaction.objects.filter(idempotency_key="checked-then-changed").exists()


@pytest.mark.django_db(transaction=True)
def test_an_entry_added_to_a_committed_transaction_is_checked():
    creator = CreatorFactory()
    suspense, available = _accounts(creator)
    ledger_post_many([Post(TxnKind.ADJUSTMENT, "committed", [debit(suspense, 5), credit(available, 5)])])
    txn = LedgerTransaction.objects.get(idempotency_key="committed")

    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        LedgerEntry.objects.create(transaction=txn, account=available, direction="CREDIT", amount=1)

    assert LedgerEntry.objects.filter(transaction=txn).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_memo_is_one_setting_not_one_per_ledger_transaction():
    """PostgreSQL keeps every setting name a session used, and each new one costs more than the last."""
    creator = CreatorFactory()
    suspense, available = _accounts(creator)
    posts = [Post(TxnKind.ADJUSTMENT, f"memo-{n}", [debit(suspense, 5), credit(available, 5)]) for n in range(3)]
    with transaction.atomic():
        ledger_post_many(posts)
    ids = list(LedgerTransaction.objects.filter(idempotency_key__startswith="memo-").values_list("pk", flat=True))
    with connection.cursor() as cursor:
        # missing_ok: NULL for a name this session never set ('' once set and rolled back at commit).
        cursor.execute(
            "SELECT current_setting('revenue_ledger.checked_' || id, true) FROM unnest(%s::bigint[]) AS id", [ids]
        )
        assert [value for (value,) in cursor.fetchall()] == [None, None, None]
        cursor.execute("SELECT current_setting('revenue_ledger.checked', true)")
        assert cursor.fetchone() == ("",)  # set while the checks ran, transaction-local
