"""revenue.services: a creator's balance through real operations, and the refusals of the services
that move it (payout_request, payout_reconcile, ledger_adjust)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from clickpesa.payloads import GatewayStatus
from revenue.fees import earnings_release_due
from revenue.ledger import IdempotencyConflict, InsufficientFunds, LedgerError, account_book, ledger_audit
from revenue.models import LedgerAccount, LedgerTransaction, Payout, PayoutMethod
from revenue.services import (
    CreatorBalance,
    PayoutError,
    creator_balance,
    ledger_adjust,
    payout_apply_gateway_status,
    payout_cancel,
    payout_reconcile,
    payout_request,
)
from revenue.submission import payout_claim
from tests.factories import CreatorFactory, PayoutFactory, PayoutMethodFactory, UserFactory, earn

Kind = LedgerAccount.Kind
ZERO = Decimal("0.00")


def figures(creator, currency: str = "TZS") -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
    """(pending, available, in flight, earned, paid out)."""
    b = creator_balance(creator, currency=currency)
    return b.pending, b.available, b.in_flight, b.earned, b.paid_out


def apply(payout: Payout, status: str, **kwargs) -> Payout:
    payout_apply_gateway_status(payout, status, source="webhook", **kwargs)
    payout.refresh_from_db()
    return payout


def clerk():
    return UserFactory(is_staff=True)


# --- creator_balance --------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_user_without_accounts_has_a_zero_balance():
    balance = creator_balance(UserFactory())
    assert balance == CreatorBalance(
        currency="TZS", pending=ZERO, available=ZERO, in_flight=ZERO, receivable=ZERO, earned=ZERO, paid_out=ZERO
    )


@pytest.mark.django_db
def test_held_earnings_count_as_earned_and_pending_then_become_available(settings):
    settings.EARNINGS_HOLD_DAYS = 3
    creator = CreatorFactory()
    payment = earn(creator, Decimal("10000.00"))
    assert figures(creator) == (Decimal("9200.00"), ZERO, ZERO, Decimal("9200.00"), ZERO)

    earnings_release_due(now=payment.completed_at + timedelta(days=3))

    assert figures(creator) == (ZERO, Decimal("9200.00"), ZERO, Decimal("9200.00"), ZERO)


@pytest.mark.django_db
def test_a_payout_moves_available_to_in_flight_then_to_paid_out():
    creator = CreatorFactory()
    earn(creator, Decimal("30000.00"))
    earn(creator, Decimal("20000.00"))
    assert figures(creator) == (ZERO, Decimal("46000.00"), ZERO, Decimal("46000.00"), ZERO)

    payout = payout_request(creator)
    assert figures(creator) == (ZERO, ZERO, Decimal("46000.00"), Decimal("46000.00"), ZERO)
    payout_claim(payout.pk)  # the submitter's claim, before it calls ClickPesa

    apply(payout, GatewayStatus.PROCESSING)
    assert figures(creator) == (ZERO, ZERO, Decimal("46000.00"), Decimal("46000.00"), ZERO)

    apply(payout, GatewayStatus.SUCCESS, fee=Decimal("1180.00"))  # ClickPesa's fee is ours to bear
    assert figures(creator) == (ZERO, ZERO, ZERO, Decimal("46000.00"), Decimal("46000.00"))


@pytest.mark.django_db
def test_earnings_after_a_payout_add_to_available_and_to_earned_but_not_to_paid_out():
    payout = apply(PayoutFactory(), GatewayStatus.SUCCESS)
    earn(payout.creator, Decimal("10000.00"))
    assert figures(payout.creator) == (ZERO, Decimal("9200.00"), ZERO, Decimal("55200.00"), Decimal("46000.00"))


@pytest.mark.django_db
def test_a_failed_payout_is_available_again_and_never_counted_as_paid_out():
    payout = apply(PayoutFactory(), GatewayStatus.FAILED, reason="Invalid beneficiary number")
    assert figures(payout.creator) == (ZERO, Decimal("46000.00"), ZERO, Decimal("46000.00"), ZERO)


@pytest.mark.django_db
def test_a_payout_reversed_after_payment_leaves_paid_out_and_is_available_again():
    payout = apply(PayoutFactory(), GatewayStatus.SUCCESS)
    apply(payout, GatewayStatus.REVERSED, reason="wrong wallet")
    assert figures(payout.creator) == (ZERO, Decimal("46000.00"), ZERO, Decimal("46000.00"), ZERO)


@pytest.mark.django_db
def test_an_adjustment_changes_available_but_not_earned():
    creator = CreatorFactory()
    earn(creator, Decimal("10000.00"))
    book = account_book("TZS", creator_ids=[creator.pk], platform_kinds=[Kind.PLATFORM_FEES])
    ledger_adjust(
        debit_account=book.platform(Kind.PLATFORM_FEES),
        credit_account=book.creator(creator.pk, Kind.CREATOR_AVAILABLE),
        amount=Decimal("800.00"),
        reason="Fee waived: launch promotion",
        by=clerk(),
    )
    assert figures(creator) == (ZERO, Decimal("10000.00"), ZERO, Decimal("9200.00"), ZERO)


@pytest.mark.django_db
def test_each_currency_has_its_own_balance():
    creator = CreatorFactory()
    earn(creator, Decimal("10000.00"))
    earn(creator, Decimal("100.00"), currency="USD")
    assert figures(creator) == (ZERO, Decimal("9200.00"), ZERO, Decimal("9200.00"), ZERO)
    usd = creator_balance(creator, currency="USD")
    assert (usd.currency, usd.available, usd.earned) == ("USD", Decimal("92.00"), Decimal("92.00"))


@pytest.mark.django_db
def test_another_creators_money_is_not_in_my_balance():
    mine, theirs = CreatorFactory(), CreatorFactory()
    earn(theirs, Decimal("50000.00"))
    payout_request(theirs)
    assert figures(mine) == (ZERO, ZERO, ZERO, ZERO, ZERO)


# --- payout_request ---------------------------------------------------------------------------


def _nothing_available(creator) -> None:
    pass


def _below_minimum(creator) -> None:
    earn(creator, Decimal("5000.00"))  # 4,500 available; the minimum is 5,000


def _in_flight_already(creator) -> None:
    earn(creator, Decimal("50000.00"))
    payout_request(creator)


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (_nothing_available, "nothing_available"),
        (_below_minimum, "below_minimum"),
        (_in_flight_already, "nothing_available"),
    ],
    ids=["nothing-earned", "below-minimum", "all-in-flight"],
)
@pytest.mark.django_db
def test_a_refused_request_writes_nothing(setup, code):
    creator = CreatorFactory()
    setup(creator)
    before = (figures(creator), Payout.objects.count(), LedgerTransaction.objects.count())
    with pytest.raises(PayoutError) as refused:
        payout_request(creator)
    assert refused.value.code == code
    assert (figures(creator), Payout.objects.count(), LedgerTransaction.objects.count()) == before


@pytest.mark.django_db
def test_a_request_without_a_default_method_is_refused_and_writes_nothing():
    creator = CreatorFactory(payout_method=False)
    PayoutMethodFactory(creator=creator, is_default=False)
    earn(creator, Decimal("20000.00"))
    with pytest.raises(PayoutError) as refused:
        payout_request(creator)
    assert refused.value.code == "no_payout_method"
    assert not Payout.objects.exists()
    assert figures(creator)[1] == Decimal("18400.00")


@pytest.mark.django_db
def test_a_balance_exactly_at_the_minimum_is_paid_out(settings):
    settings.PAYOUT_MINIMUM = {"TZS": Decimal("9200.00")}
    creator = CreatorFactory()
    earn(creator, Decimal("10000.00"))
    assert payout_request(creator).amount == Decimal("9200.00")


@pytest.mark.django_db
def test_a_request_to_a_chosen_method_of_the_creator_snapshots_that_method():
    creator = CreatorFactory()
    bank = PayoutMethodFactory(
        creator=creator,
        kind=PayoutMethod.Kind.BANK_ACCOUNT,
        provider="CRDB BANK PLC",
        account_number="0150123456789",
        bic="CORUTZTZ",
        is_default=False,
    )
    earn(creator, Decimal("20000.00"))
    payout = payout_request(creator, method=bank)
    assert (payout.method, payout.method_kind) == (bank, PayoutMethod.Kind.BANK_ACCOUNT)
    assert payout.method_snapshot["account_number"] == "0150123456789"
    assert payout.destination_label == "CRDB BANK PLC ****6789"
    bank.account_number = "0150999999999"
    bank.save()
    payout.refresh_from_db()
    assert payout.method_snapshot["account_number"] == "0150123456789"  # later edits move no money


@pytest.mark.django_db
def test_a_request_to_another_creators_method_is_refused():
    creator, stranger = CreatorFactory(), CreatorFactory()
    earn(creator, Decimal("20000.00"))
    strangers_wallet = stranger.payout_methods.get()
    with pytest.raises(PayoutError):
        payout_request(creator, method=strangers_wallet)
    assert not Payout.objects.exists()


@pytest.mark.django_db
def test_a_usd_request_takes_the_usd_balance_against_the_usd_minimum():
    creator = CreatorFactory()
    earn(creator, Decimal("10000.00"))
    earn(creator, Decimal("4.00"), currency="USD")  # 3.68 after the 8 % fee: below USD 5.00
    with pytest.raises(PayoutError) as refused:
        payout_request(creator, currency="USD")
    assert refused.value.code == "below_minimum"
    earn(creator, Decimal("10.00"), currency="USD")  # 9.20 more
    payout = payout_request(creator, currency="USD")
    assert (payout.currency, payout.amount) == ("USD", Decimal("12.88"))
    assert figures(creator, "USD")[1:3] == (ZERO, Decimal("12.88"))
    assert figures(creator)[1] == Decimal("9200.00")  # the TZS balance is untouched


# --- payout_reconcile -------------------------------------------------------------------------


def _pending(payout):
    return payout


def _processing(payout):
    return apply(payout, GatewayStatus.PROCESSING)


def _paid(payout):
    return apply(payout, GatewayStatus.SUCCESS)


def _failed(payout):
    return apply(payout, GatewayStatus.FAILED)


def _refunded(payout):
    return apply(payout, GatewayStatus.REFUNDED)


def _reversed(payout):
    return apply(_paid(payout), GatewayStatus.REVERSED)


def _cancelled(payout):
    payout_cancel(payout, by=clerk(), reason="creator asked")
    payout.refresh_from_db()
    return payout


@pytest.mark.parametrize("reach", [_pending, _processing], ids=["pending", "processing"])
@pytest.mark.django_db
def test_a_payout_in_flight_cannot_be_reconciled(reach):
    payout = reach(PayoutFactory())
    with pytest.raises(PayoutError) as refused:
        payout_reconcile(payout, by=clerk())
    assert refused.value.code == "not_final"
    payout.refresh_from_db()
    assert (payout.reconciled_at, payout.reconciled_by) == (None, None)


@pytest.mark.parametrize(
    "reach", [_paid, _failed, _refunded, _reversed, _cancelled], ids=lambda f: f.__name__.strip("_")
)
@pytest.mark.django_db
def test_a_final_payout_is_reconciled_once_by_the_first_clerk(reach):
    payout = reach(PayoutFactory(submitted=reach is not _cancelled))
    first, second = clerk(), clerk()
    payout_reconcile(payout, by=first)
    with pytest.raises(PayoutError) as refused:
        payout_reconcile(payout, by=second)
    assert refused.value.code == "already_reconciled"
    payout.refresh_from_db()
    assert payout.reconciled_by == first
    assert payout.reconciled_at is not None


@pytest.mark.django_db
def test_reconciling_moves_no_money():
    payout = _paid(PayoutFactory())
    before = (figures(payout.creator), LedgerTransaction.objects.count())
    payout_reconcile(payout, by=clerk())
    assert (figures(payout.creator), LedgerTransaction.objects.count()) == before


# --- ledger_adjust ----------------------------------------------------------------------------


@pytest.fixture
def creator_with_earnings():
    creator = CreatorFactory()
    earn(creator, Decimal("10000.00"))
    return creator


def _accounts(creator, currency: str = "TZS"):
    book = account_book(currency, creator_ids=[creator.pk], platform_kinds=[Kind.SUSPENSE])
    return book.creator(creator.pk, Kind.CREATOR_AVAILABLE), book.platform(Kind.SUSPENSE)


@pytest.mark.django_db
def test_an_adjustment_taking_more_than_a_creator_has_is_refused_and_writes_nothing(creator_with_earnings):
    available, suspense = _accounts(creator_with_earnings)
    with pytest.raises(InsufficientFunds):
        ledger_adjust(
            debit_account=available,
            credit_account=suspense,
            amount=Decimal("9200.01"),
            reason="Clawback of a refunded sale",
            by=clerk(),
        )
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.ADJUSTMENT).exists()
    assert figures(creator_with_earnings)[1] == Decimal("9200.00")


@pytest.mark.django_db
def test_an_adjustment_may_take_a_creators_whole_balance(creator_with_earnings):
    available, suspense = _accounts(creator_with_earnings)
    ledger_adjust(
        debit_account=available,
        credit_account=suspense,
        amount=Decimal("9200.00"),
        reason="Clawback of a refunded sale",
        by=clerk(),
    )
    assert figures(creator_with_earnings)[1] == ZERO
    assert ledger_audit(record=False).ok is True


@pytest.mark.django_db
def test_an_adjustment_between_currencies_is_refused(creator_with_earnings):
    available, _ = _accounts(creator_with_earnings)
    _, usd_suspense = _accounts(creator_with_earnings, "USD")
    with pytest.raises(LedgerError) as refused:
        ledger_adjust(
            debit_account=usd_suspense, credit_account=available, amount=Decimal("1.00"), reason="fx", by=clerk()
        )
    assert refused.value.code == "currency_mismatch"
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.ADJUSTMENT).exists()


@pytest.mark.django_db
def test_an_adjustment_key_reused_for_another_amount_is_refused(creator_with_earnings):
    available, suspense = _accounts(creator_with_earnings)
    who = clerk()
    first = ledger_adjust(
        debit_account=suspense,
        credit_account=available,
        amount=Decimal("100.00"),
        reason="Goodwill",
        by=who,
        idempotency_key="adjustment:form-token-1",
    )
    again = ledger_adjust(
        debit_account=suspense,
        credit_account=available,
        amount=Decimal("100.00"),
        reason="Goodwill",
        by=who,
        idempotency_key="adjustment:form-token-1",
    )
    with pytest.raises(IdempotencyConflict):
        ledger_adjust(
            debit_account=suspense,
            credit_account=available,
            amount=Decimal("150.00"),
            reason="Goodwill",
            by=who,
            idempotency_key="adjustment:form-token-1",
        )
    assert again.pk == first.pk
    assert figures(creator_with_earnings)[1] == Decimal("9300.00")
