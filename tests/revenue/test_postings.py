"""Every posting of docs/architecture.md's table: its entries, its key, a repeat that writes nothing.

Each moment is reached through the real service that posts it (a capture, a release, a payout's
transitions, a deposit) and then, where it matters, the posting function is called again as a
retried caller would; the journal must not move and the audit must stay clean.
"""

from datetime import timedelta
from decimal import Decimal

import pytest

from clickpesa.payloads import GatewayStatus
from core.results import Effect
from payments.services import LineSpec, order_create, payment_start
from revenue.fees import earnings_release_due
from revenue.ledger import (
    IdempotencyConflict,
    InsufficientFunds,
    LedgerError,
    account_balance,
    account_book,
    ledger_audit,
)
from revenue.models import (
    Deposit,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    Payout,
    PlatformFee,
    TransactionType,
)
from revenue.postings import (
    post_adjustment,
    post_capture,
    post_deposit,
    post_release,
    post_reserve,
    post_return,
    post_settle,
)
from revenue.services import creator_balance, deposit_record, payout_apply_gateway_status, payout_request
from tests.factories import BuyerFactory, CreatorFactory, PayoutFactory, UserFactory, capture, earn

Kind = LedgerAccount.Kind
TxnKind = LedgerTransaction.Kind
FEE = Decimal("1180.00")
DEBIT, CREDIT = "DEBIT", "CREDIT"


def entries(txn: LedgerTransaction) -> list[tuple[str, int | None, str, Decimal]]:
    """The transaction's entries as (account kind, creator id, direction, amount), sorted."""
    return sorted(
        (e.account.kind, e.account.creator_id, e.direction, e.amount) for e in txn.entries.select_related("account")
    )


def posted(key: str) -> LedgerTransaction:
    return LedgerTransaction.objects.get(idempotency_key=key)


def journal() -> tuple[int, int]:
    """How many transactions and entries the journal holds."""
    return LedgerTransaction.objects.count(), LedgerEntry.objects.count()


def assert_audit_clean() -> None:
    run = ledger_audit(record=False)
    assert run.ok, run.differences


def repost_capture(payment, *, extra_fee: Decimal = Decimal(0)) -> None:
    """Call the capture posting again for a captured payment, as a retried handler would.

    ``extra_fee`` changes the content (a balanced capture with a larger processing fee).
    """
    order = payment.order
    post_capture(
        payment_id=payment.pk,
        reference=payment.reference,
        order_id=order.pk,
        currency=order.currency,
        total=payment.amount + extra_fee,
        processing_fee=order.processing_fee + extra_fee,
        fees=PlatformFee.objects.filter(order=order),
        earnings_kind=Kind.CREATOR_AVAILABLE,
    )


def apply(payout: Payout, status: str, **kwargs) -> Payout:
    payout_apply_gateway_status(payout, status, source="webhook", **kwargs)
    payout.refresh_from_db()
    return payout


# --- PAYMENT_CAPTURE --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_capture_debits_cash_and_credits_the_creator_and_both_fees():
    creator = CreatorFactory()
    payment = earn(creator, Decimal("10000.00"))  # buyer pays 10,000 + 250 + 750
    txn = posted(f"payment:{payment.pk}:capture")
    assert (txn.kind, txn.payment_id, txn.payout_id) == (TxnKind.PAYMENT_CAPTURE, payment.pk, None)
    assert payment.reference in txn.memo and f"order #{payment.order_id}" in txn.memo
    assert entries(txn) == [
        (Kind.CREATOR_AVAILABLE, creator.pk, CREDIT, Decimal("9200.00")),
        (Kind.GATEWAY_CASH, None, DEBIT, Decimal("11000.00")),
        # Both fees include 18 % VAT: 800 = 677.97 + 122.03 and 1,000 = 847.46 + 152.54.
        (Kind.PLATFORM_FEES, None, CREDIT, Decimal("677.97")),
        (Kind.PROCESSING_FEES, None, CREDIT, Decimal("847.46")),
        (Kind.VAT_PAYABLE, None, CREDIT, Decimal("274.57")),
    ]
    assert_audit_clean()


@pytest.mark.django_db
def test_a_capture_during_a_hold_credits_the_creators_pending_account(settings):
    settings.EARNINGS_HOLD_DAYS = 3
    creator = CreatorFactory()
    payment = earn(creator, Decimal("10000.00"))
    txn = posted(f"payment:{payment.pk}:capture")
    assert entries(txn) == [
        (Kind.CREATOR_PENDING, creator.pk, CREDIT, Decimal("9200.00")),
        (Kind.GATEWAY_CASH, None, DEBIT, Decimal("11000.00")),
        # Both fees include 18 % VAT: 800 = 677.97 + 122.03 and 1,000 = 847.46 + 152.54.
        (Kind.PLATFORM_FEES, None, CREDIT, Decimal("677.97")),
        (Kind.PROCESSING_FEES, None, CREDIT, Decimal("847.46")),
        (Kind.VAT_PAYABLE, None, CREDIT, Decimal("274.57")),
    ]
    assert creator_balance(creator).available == 0
    assert_audit_clean()


@pytest.mark.django_db
def test_a_multi_creator_capture_credits_each_creator_once_with_their_net():
    asha, juma = CreatorFactory(), CreatorFactory()
    order = order_create(
        BuyerFactory(),
        lines=[
            LineSpec(asha, TransactionType.MARKETPLACE, Decimal("10000.00")),  # fee 800
            LineSpec(asha, TransactionType.TIP, Decimal("2000.00")),  # fee 500 (the minimum)
            LineSpec(juma, TransactionType.SERVICE_BOOKING, Decimal("30000.00")),  # fee 3,000
        ],
    )
    payment = capture(payment_start(order))
    txn = posted(f"payment:{payment.pk}:capture")
    assert entries(txn) == sorted(
        [
            (Kind.GATEWAY_CASH, None, DEBIT, Decimal("43800.00")),  # 42,000 + 1,050 + 750
            (Kind.CREATOR_AVAILABLE, asha.pk, CREDIT, Decimal("10700.00")),
            (Kind.CREATOR_AVAILABLE, juma.pk, CREDIT, Decimal("27000.00")),
            # VAT per fee row: 122.03 + 76.27 + 457.63 on the platform fees, 274.58 on processing.
            (Kind.PLATFORM_FEES, None, CREDIT, Decimal("3644.07")),
            (Kind.PROCESSING_FEES, None, CREDIT, Decimal("1525.42")),
            (Kind.VAT_PAYABLE, None, CREDIT, Decimal("930.51")),
        ]
    )
    assert_audit_clean()


@pytest.mark.django_db
def test_posting_a_capture_again_writes_nothing():
    creator = CreatorFactory()
    payment = earn(creator)
    before = journal()
    repost_capture(payment)
    assert journal() == before
    assert creator_balance(creator).available == Decimal("9200.00")
    assert_audit_clean()


@pytest.mark.django_db
def test_a_capture_reposted_with_other_amounts_is_refused_and_writes_nothing():
    creator = CreatorFactory()
    payment = earn(creator)
    before = journal()
    with pytest.raises(IdempotencyConflict):
        repost_capture(payment, extra_fee=Decimal("1.00"))
    assert journal() == before
    assert creator_balance(creator).available == Decimal("9200.00")


# --- EARNINGS_RELEASE -------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_release_moves_the_earnings_from_pending_to_available_once(settings):
    settings.EARNINGS_HOLD_DAYS = 3
    creator = CreatorFactory()
    payment = earn(creator, Decimal("10000.00"))

    earnings_release_due(now=payment.completed_at + timedelta(days=3))

    key = f"payment:{payment.pk}:creator:{creator.pk}:release"
    txn = posted(key)
    assert (txn.kind, txn.payment_id) == (TxnKind.EARNINGS_RELEASE, payment.pk)
    assert entries(txn) == [
        (Kind.CREATOR_AVAILABLE, creator.pk, CREDIT, Decimal("9200.00")),
        (Kind.CREATOR_PENDING, creator.pk, DEBIT, Decimal("9200.00")),
    ]
    before = journal()
    post_release(
        payment_id=payment.pk, order_id=payment.order_id, creator_id=creator.pk, currency="TZS", amount=Decimal("9200")
    )
    assert journal() == before
    balance = creator_balance(creator)
    assert (balance.pending, balance.available) == (0, Decimal("9200.00"))
    assert_audit_clean()


@pytest.mark.django_db
def test_a_release_of_more_than_is_pending_is_refused_and_writes_nothing(settings):
    settings.EARNINGS_HOLD_DAYS = 3
    creator = CreatorFactory()
    payment = earn(creator, Decimal("10000.00"))
    before = journal()
    with pytest.raises(InsufficientFunds):
        post_release(
            payment_id=payment.pk,
            order_id=payment.order_id,
            creator_id=creator.pk,
            currency="TZS",
            amount=Decimal("9200.01"),
        )
    assert journal() == before
    assert creator_balance(creator).pending == Decimal("9200.00")


# --- PAYOUT_RESERVE ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_reserve_moves_the_amount_from_available_to_in_flight_and_names_who_asked():
    creator = CreatorFactory()
    earn(creator, Decimal("50000.00"))
    clerk = UserFactory(is_staff=True)
    payout = payout_request(creator, requested_by=clerk)
    txn = posted(f"payout:{payout.pk}:reserve")
    assert (txn.kind, txn.payout_id, txn.posted_by) == (TxnKind.PAYOUT_RESERVE, payout.pk, clerk)
    assert payout.reference in txn.memo
    assert entries(txn) == [
        (Kind.CREATOR_AVAILABLE, creator.pk, DEBIT, Decimal("46000.00")),
        (Kind.CREATOR_PAYOUT_IN_FLIGHT, creator.pk, CREDIT, Decimal("46000.00")),
    ]
    before = journal()
    post_reserve(payout, requested_by=clerk)
    assert journal() == before
    assert creator_balance(creator).in_flight == Decimal("46000.00")
    assert_audit_clean()


@pytest.mark.django_db
def test_a_reserve_larger_than_the_available_balance_is_refused_and_writes_nothing():
    creator = CreatorFactory()
    earn(creator, Decimal("10000.00"))  # 9,200 available
    method = creator.payout_methods.get()
    payout = Payout.objects.create(
        creator=creator,
        reference="BLNPOTOOMUCH1",
        amount=Decimal("9200.01"),
        method=method,
        method_kind=method.kind,
        method_snapshot=method.snapshot(),
    )
    before = journal()
    with pytest.raises(InsufficientFunds, match=r"cannot move 9200\.01"):
        post_reserve(payout, requested_by=None)
    assert journal() == before
    assert not LedgerTransaction.objects.filter(idempotency_key=f"payout:{payout.pk}:reserve").exists()
    balance = creator_balance(creator)
    assert (balance.available, balance.in_flight) == (Decimal("9200.00"), 0)
    assert_audit_clean()


# --- PAYOUT_SETTLE ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_settle_with_clickpesas_fee_books_the_fee_as_an_expense():
    payout = apply(PayoutFactory(), GatewayStatus.SUCCESS, amount=Decimal("47180.00"), fee=FEE)
    txn = posted(f"payout:{payout.pk}:settle")
    assert entries(txn) == sorted(
        [
            (Kind.CREATOR_PAYOUT_IN_FLIGHT, payout.creator_id, DEBIT, payout.amount),
            (Kind.GATEWAY_CASH, None, CREDIT, payout.amount),
            (Kind.PAYOUT_FEES, None, DEBIT, FEE),
            (Kind.GATEWAY_CASH, None, CREDIT, FEE),
        ]
    )
    before = journal()
    post_settle(payout)
    assert journal() == before
    assert_audit_clean()


@pytest.mark.parametrize("fee", [None, Decimal("0.00")], ids=["no-fee-reported", "zero-fee"])
@pytest.mark.django_db
def test_a_settle_without_a_clickpesa_fee_has_two_entries(fee):
    payout = apply(PayoutFactory(), GatewayStatus.SUCCESS, fee=fee)
    assert payout.gateway_fee == fee
    txn = posted(f"payout:{payout.pk}:settle")
    assert (txn.kind, txn.payout_id) == (TxnKind.PAYOUT_SETTLE, payout.pk)
    assert entries(txn) == [
        (Kind.CREATOR_PAYOUT_IN_FLIGHT, payout.creator_id, DEBIT, payout.amount),
        (Kind.GATEWAY_CASH, None, CREDIT, payout.amount),
    ]
    assert not LedgerAccount.objects.filter(kind=Kind.PAYOUT_FEES, entries__isnull=False).exists()
    assert_audit_clean()


# --- PAYOUT_RETURN ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_return_before_payment_moves_in_flight_back_to_available():
    payout = apply(PayoutFactory(), GatewayStatus.FAILED, reason="Invalid beneficiary number")
    txn = posted(f"payout:{payout.pk}:return")
    assert txn.kind == TxnKind.PAYOUT_RETURN
    assert "PENDING -> FAILED" in txn.memo
    assert entries(txn) == [
        (Kind.CREATOR_AVAILABLE, payout.creator_id, CREDIT, payout.amount),
        (Kind.CREATOR_PAYOUT_IN_FLIGHT, payout.creator_id, DEBIT, payout.amount),
    ]
    assert_audit_clean()


@pytest.mark.django_db
def test_a_return_after_payment_brings_the_amount_back_into_cash_and_clickpesa_keeps_its_fee():
    payout = apply(PayoutFactory(), GatewayStatus.SUCCESS, fee=FEE)
    apply(payout, GatewayStatus.REVERSED, reason="wrong wallet")
    txn = posted(f"payout:{payout.pk}:return")
    assert "PAID -> REVERSED" in txn.memo
    assert entries(txn) == [
        (Kind.CREATOR_AVAILABLE, payout.creator_id, CREDIT, payout.amount),
        (Kind.GATEWAY_CASH, None, DEBIT, payout.amount),
    ]
    assert_audit_clean()


@pytest.mark.django_db
def test_a_return_after_payment_with_the_fee_returned_credits_payout_fees_back():
    payout = apply(PayoutFactory(), GatewayStatus.SUCCESS, fee=FEE)
    apply(payout, GatewayStatus.REVERSED, reason="wrong wallet", fee_returned=True)
    txn = posted(f"payout:{payout.pk}:return")
    assert entries(txn) == sorted(
        [
            (Kind.CREATOR_AVAILABLE, payout.creator_id, CREDIT, payout.amount),
            (Kind.GATEWAY_CASH, None, DEBIT, payout.amount),
            (Kind.GATEWAY_CASH, None, DEBIT, FEE),
            (Kind.PAYOUT_FEES, None, CREDIT, FEE),
        ]
    )
    assert_audit_clean()


@pytest.mark.django_db
def test_a_return_is_posted_once_per_payout_whatever_comes_next():
    payout = apply(PayoutFactory(), GatewayStatus.REFUNDED, reason="processing error")
    before = journal()
    post_return(payout, from_status=Payout.Status.PENDING, fee_returned=False)
    assert journal() == before
    # A return of another shape under the same key is an error, never a second return.
    with pytest.raises(IdempotencyConflict):
        post_return(payout, from_status=Payout.Status.PAID, fee_returned=False)
    assert journal() == before
    balance = creator_balance(payout.creator)
    assert (balance.available, balance.in_flight) == (payout.amount, 0)


# --- DEPOSIT ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_deposit_debits_cash_and_credits_merchant_funding_once():
    assert deposit_record(reference="DEPTOPUP01", amount=Decimal("500000.00"), currency="TZS").applied
    deposit = Deposit.objects.get()
    txn = posted("deposit:DEPTOPUP01")
    assert (txn.kind, txn.deposit_id) == (TxnKind.DEPOSIT, deposit.pk)
    assert entries(txn) == [
        (Kind.GATEWAY_CASH, None, DEBIT, Decimal("500000.00")),
        (Kind.MERCHANT_FUNDING, None, CREDIT, Decimal("500000.00")),
    ]
    before = journal()
    post_deposit(deposit)
    assert journal() == before
    assert_audit_clean()


@pytest.mark.django_db
def test_a_deposit_reported_again_with_another_amount_is_stale_and_posts_nothing():
    deposit_record(reference="DEPTOPUP02", amount=Decimal("500000.00"), currency="TZS")
    before = journal()
    outcome = deposit_record(reference="DEPTOPUP02", amount=Decimal("400000.00"), currency="TZS")
    assert outcome.effect is Effect.STALE
    assert "already recorded as TZS 500,000.00" in outcome.detail
    assert journal() == before
    assert Deposit.objects.get().amount == Decimal("500000.00")


@pytest.mark.django_db
def test_a_usd_deposit_lands_in_usd_accounts():
    deposit_record(reference="DEPUSD01", amount=Decimal("250.00"), currency="USD")
    txn = posted("deposit:DEPUSD01")
    assert {e.account.currency for e in txn.entries.select_related("account")} == {"USD"}
    assert_audit_clean()


# --- ADJUSTMENT -------------------------------------------------------------------------------


@pytest.fixture
def accounts():
    creator = CreatorFactory()
    earn(creator)
    tzs = account_book("TZS", creator_ids=[creator.pk], platform_kinds=[Kind.SUSPENSE, Kind.PLATFORM_FEES])
    usd = account_book("USD", platform_kinds=[Kind.SUSPENSE])
    return {
        "available": tzs.creator(creator.pk, Kind.CREATOR_AVAILABLE),
        "suspense": tzs.platform(Kind.SUSPENSE),
        "fees": tzs.platform(Kind.PLATFORM_FEES),
        "usd_suspense": usd.platform(Kind.SUSPENSE),
    }


@pytest.mark.parametrize(
    ("debit", "credit", "reason", "code"),
    [
        ("fees", "available", "  ", "reason_required"),
        ("usd_suspense", "available", "wrong currency", "currency_mismatch"),
        ("suspense", "suspense", "same account", "same_account"),
    ],
)
@pytest.mark.django_db
def test_an_adjustment_is_refused_without_writing(accounts, debit, credit, reason, code):
    before = journal()
    with pytest.raises(LedgerError) as refused:
        post_adjustment(
            debit_account=accounts[debit],
            credit_account=accounts[credit],
            amount=Decimal("100.00"),
            reason=reason,
            by=UserFactory(is_staff=True),
        )
    assert refused.value.code == code
    assert journal() == before


@pytest.mark.django_db
def test_an_adjustment_moves_the_amount_with_its_reason_and_author(accounts):
    clerk = UserFactory(is_staff=True, username="clerk")
    txn = post_adjustment(
        debit_account=accounts["fees"],
        credit_account=accounts["available"],
        amount=Decimal("250.00"),
        reason="  Goodwill: late delivery  ",
        by=clerk,
        idempotency_key="adjustment:goodwill-1",
    )
    assert (txn.kind, txn.idempotency_key, txn.posted_by) == (TxnKind.ADJUSTMENT, "adjustment:goodwill-1", clerk)
    assert txn.memo == f"Goodwill: late delivery (by {clerk})"
    assert entries(txn) == [
        (Kind.CREATOR_AVAILABLE, accounts["available"].creator_id, CREDIT, Decimal("250.00")),
        (Kind.PLATFORM_FEES, None, DEBIT, Decimal("250.00")),
    ]
    again = post_adjustment(
        debit_account=accounts["fees"],
        credit_account=accounts["available"],
        amount=Decimal("250.00"),
        reason="Goodwill: late delivery",
        by=clerk,
        idempotency_key="adjustment:goodwill-1",
    )
    assert again.pk == txn.pk
    accounts["available"].refresh_from_db()
    assert accounts["available"].balance == Decimal("9450.00")
    assert_audit_clean()


@pytest.mark.django_db
def test_adjustments_without_a_key_are_each_posted():
    creator = CreatorFactory()
    book = account_book("TZS", creator_ids=[creator.pk], platform_kinds=[Kind.SUSPENSE])
    clerk = UserFactory(is_staff=True)
    for _ in range(2):
        post_adjustment(
            debit_account=book.platform(Kind.SUSPENSE),
            credit_account=book.creator(creator.pk, Kind.CREATOR_AVAILABLE),
            amount=Decimal("100.00"),
            reason="two separate corrections",
            by=clerk,
        )
    assert LedgerTransaction.objects.filter(kind=TxnKind.ADJUSTMENT).count() == 2
    assert creator_balance(creator).available == Decimal("200.00")


# --- The whole journey ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_payouts_postings_leave_every_account_where_the_table_says(settings):
    settings.EARNINGS_HOLD_DAYS = 0
    deposit_record(reference="DEPFLOAT", amount=Decimal("100000.00"), currency="TZS")
    payout = PayoutFactory()  # a 50,000 sale: cash +52,000 (fees on top); 46,000 reserved
    apply(payout, GatewayStatus.PROCESSING)
    apply(payout, GatewayStatus.SUCCESS, fee=FEE)
    apply(payout, GatewayStatus.REVERSED, reason="wrong wallet", fee_returned=True)

    keys = sorted(payout.ledger_transactions.values_list("idempotency_key", flat=True))
    assert keys == [f"payout:{payout.pk}:{moment}" for moment in ("reserve", "return", "settle")]
    book = account_book("TZS", platform_kinds=[Kind.GATEWAY_CASH, Kind.PAYOUT_FEES, Kind.MERCHANT_FUNDING])
    assert account_balance(book.platform(Kind.GATEWAY_CASH)) == Decimal("152000.00")
    assert account_balance(book.platform(Kind.PAYOUT_FEES)) == 0
    balance = creator_balance(payout.creator)
    assert (balance.available, balance.in_flight, balance.paid_out) == (Decimal("46000.00"), 0, 0)
    assert_audit_clean()
