"""payout_request reserves the whole available balance, once."""

from decimal import Decimal

import pytest

from revenue.models import LedgerTransaction, Payout, PlatformFee
from revenue.services import PayoutError, creator_balance, payout_request
from tests.conftest import run_concurrently
from tests.factories import CreatorFactory, earn


@pytest.mark.django_db
def test_it_reserves_the_whole_available_balance():
    creator = CreatorFactory()
    earn(creator, Decimal("30000.00"))
    earn(creator, Decimal("20000.00"))

    payout = payout_request(creator)

    assert payout.status == Payout.Status.PENDING
    assert payout.amount == Decimal("46000.00")  # 50,000 less 8 %
    assert payout.reference.isalnum()
    assert payout.method_snapshot["provider"] == "M-Pesa"
    balance = creator_balance(creator)
    assert (balance.available, balance.in_flight, balance.earned) == (
        Decimal("0.00"),
        Decimal("46000.00"),
        Decimal("46000.00"),
    )
    assert LedgerTransaction.objects.get(payout=payout).kind == LedgerTransaction.Kind.PAYOUT_RESERVE
    fees = PlatformFee.objects.filter(creator=creator)
    assert {(f.payout_id, f.payout_status) for f in fees} == {(payout.pk, PlatformFee.PayoutStatus.PENDING)}
    assert payout.status_changes.get().to_status == Payout.Status.PENDING


@pytest.mark.django_db
def test_it_refuses_when_nothing_is_available():
    with pytest.raises(PayoutError, match="Nothing is available"):
        payout_request(CreatorFactory())


@pytest.mark.django_db
def test_it_refuses_below_the_minimum(settings):
    settings.PAYOUT_MINIMUM = {"TZS": Decimal("10000.00")}
    creator = CreatorFactory()
    earn(creator, Decimal("5000.00"))
    with pytest.raises(PayoutError, match=r"below the payout minimum of TZS 10,000\.00"):
        payout_request(creator)
    assert not Payout.objects.exists()


@pytest.mark.django_db
def test_it_refuses_without_a_payout_method():
    creator = CreatorFactory(payout_method=False)
    earn(creator, Decimal("20000.00"))
    with pytest.raises(PayoutError, match="no default payout method"):
        payout_request(creator)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_requests_cannot_reserve_the_same_money():
    creator = CreatorFactory()
    earn(creator, Decimal("50000.00"))

    results = run_concurrently(lambda i: payout_request(creator), 2)

    payouts = [r for r in results if isinstance(r, Payout)]
    refusals = [r for r in results if isinstance(r, PayoutError)]
    assert len(payouts) == 1 and len(refusals) == 1, results
    assert Payout.objects.get().amount == Decimal("46000.00")
    assert creator_balance(creator).in_flight == Decimal("46000.00")
