"""The balance check runs once per ledger transaction at commit (migration 0019), and misses nothing.

A passing check is remembered for the rest of the database transaction; a new entry forgets it,
so an entry written after a check (made IMMEDIATE, or in a later database transaction) is
checked again with the others.
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
