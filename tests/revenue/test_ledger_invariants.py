"""The ledger's invariants hold in PostgreSQL itself, whatever Python does."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from revenue.ledger import (
    IdempotencyConflict,
    InsufficientFunds,
    account_book,
    credit,
    debit,
    ledger_audit,
    ledger_post,
)
from revenue.models import LedgerAccount, LedgerEntry, LedgerTransaction
from tests.factories import CreatorFactory

Kind = LedgerAccount.Kind
TxnKind = LedgerTransaction.Kind


def _book(creator):
    return account_book("TZS", creator_ids=[creator.pk], platform_kinds=[Kind.SUSPENSE, Kind.GATEWAY_CASH])


def _adjust(creator, amount, key="adj-1"):
    book = _book(creator)
    return ledger_post(
        kind=TxnKind.ADJUSTMENT,
        idempotency_key=key,
        postings=[
            debit(book.platform(Kind.SUSPENSE), amount),
            credit(book.creator(creator.pk, Kind.CREATOR_AVAILABLE), amount),
        ],
        memo="test credit",
    )


@pytest.mark.django_db(transaction=True)
def test_it_rejects_an_unbalanced_transaction_at_commit():
    """Entries written behind the service's back that do not balance fail when the transaction commits."""
    creator = CreatorFactory()
    book = _book(creator)
    with pytest.raises(IntegrityError, match="does not balance"), transaction.atomic():
        txn = LedgerTransaction.objects.create(kind=TxnKind.ADJUSTMENT, idempotency_key="raw-1", fingerprint="x")
        LedgerEntry.objects.create(transaction=txn, account=book.platform(Kind.SUSPENSE), direction="DEBIT", amount=10)
        LedgerEntry.objects.create(
            transaction=txn, account=book.creator(creator.pk, Kind.CREATOR_AVAILABLE), direction="CREDIT", amount=9
        )
    assert not LedgerTransaction.objects.filter(idempotency_key="raw-1").exists()


@pytest.mark.django_db(transaction=True)
def test_it_rejects_a_transaction_without_entries_at_commit():
    with pytest.raises(IntegrityError, match="at least 2"), transaction.atomic():
        LedgerTransaction.objects.create(kind=TxnKind.ADJUSTMENT, idempotency_key="raw-2", fingerprint="x")


@pytest.mark.django_db(transaction=True)
def test_it_rejects_raw_sql_entries_that_do_not_balance():
    creator = CreatorFactory()
    account = _book(creator).platform(Kind.SUSPENSE)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO revenue_ledgertransaction (kind, idempotency_key, fingerprint, memo, created_at)"
            " VALUES ('ADJUSTMENT', 'raw-3', 'x', '', now()) RETURNING id"
        )
        (txn_id,) = cursor.fetchone()
        cursor.execute(
            "INSERT INTO revenue_ledgerentry (transaction_id, account_id, direction, amount, created_at)"
            " VALUES (%s, %s, 'DEBIT', 5, now()), (%s, %s, 'DEBIT', 5, now())",
            [txn_id, account.pk, txn_id, account.pk],
        )


@pytest.mark.django_db
def test_it_refuses_to_update_a_ledger_entry():
    creator = CreatorFactory()
    txn, _ = _adjust(creator, Decimal("100.00"))
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        LedgerEntry.objects.filter(transaction=txn).update(amount=Decimal("1.00"))


@pytest.mark.django_db
def test_it_refuses_to_delete_a_ledger_entry_or_transaction():
    creator = CreatorFactory()
    txn, _ = _adjust(creator, Decimal("100.00"))
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        LedgerEntry.objects.filter(transaction=txn).delete()
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM revenue_ledgertransaction WHERE id = %s", [txn.pk])


@pytest.mark.django_db
def test_it_refuses_a_negative_available_balance_even_through_a_raw_update():
    creator = CreatorFactory()
    with pytest.raises(IntegrityError, match="creator_balance_non_negative"), transaction.atomic():
        LedgerAccount.objects.filter(creator=creator, kind=Kind.CREATOR_AVAILABLE).update(balance=Decimal("-1.00"))


@pytest.mark.django_db
def test_it_posts_the_same_key_once():
    creator = CreatorFactory()
    first, created_first = _adjust(creator, Decimal("2500.00"))
    again, created_again = _adjust(creator, Decimal("2500.00"))
    assert (created_first, created_again) == (True, False)
    assert again.pk == first.pk
    assert LedgerTransaction.objects.filter(idempotency_key="adj-1").count() == 1
    assert LedgerAccount.objects.get(creator=creator, kind=Kind.CREATOR_AVAILABLE).balance == Decimal("2500.00")


@pytest.mark.django_db
def test_it_raises_when_a_key_is_reused_with_different_amounts():
    creator = CreatorFactory()
    _adjust(creator, Decimal("2500.00"))
    with pytest.raises(IdempotencyConflict):
        _adjust(creator, Decimal("2600.00"))
    assert LedgerAccount.objects.get(creator=creator, kind=Kind.CREATOR_AVAILABLE).balance == Decimal("2500.00")


@pytest.mark.django_db
def test_a_post_that_only_adds_to_creators_takes_no_savepoint_of_its_own():
    creator = CreatorFactory()
    _book(creator)
    with CaptureQueriesContext(connection) as queries:
        _adjust(creator, Decimal("2500.00"))
    assert not [q for q in queries.captured_queries if "SAVEPOINT" in q["sql"]]


@pytest.mark.django_db
def test_a_refused_withdrawal_takes_its_rows_back_and_leaves_the_callers_transaction_usable():
    creator = CreatorFactory()
    _adjust(creator, Decimal("1000.00"))
    book = _book(creator)
    with pytest.raises(InsufficientFunds):
        ledger_post(
            kind=TxnKind.ADJUSTMENT,
            idempotency_key="adj-too-much",
            postings=[
                debit(book.creator(creator.pk, Kind.CREATOR_AVAILABLE), Decimal("1000.01")),
                credit(book.platform(Kind.SUSPENSE), Decimal("1000.01")),
            ],
        )
    # The test's own transaction goes on: the savepoint took the refused post back, row and all.
    assert not LedgerTransaction.objects.filter(idempotency_key="adj-too-much").exists()
    assert LedgerAccount.objects.get(creator=creator, kind=Kind.CREATOR_AVAILABLE).balance == Decimal("1000.00")


@pytest.mark.django_db
def test_audit_reports_a_cached_balance_that_drifted_from_its_entries():
    creator = CreatorFactory()
    _adjust(creator, Decimal("100.00"))
    assert ledger_audit().ok is True
    LedgerAccount.objects.filter(creator=creator, kind=Kind.CREATOR_AVAILABLE).update(balance=Decimal("150.00"))
    run = ledger_audit()
    assert run.ok is False
    assert run.differences[0]["cached"] == "150.00"
    assert run.differences[0]["entries"] == "100.00"
