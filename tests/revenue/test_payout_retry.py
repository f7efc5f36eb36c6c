"""payout_retry: a returned payout is paid again once, from the available balance."""

from decimal import Decimal

import pytest

from clickpesa.payloads import GatewayStatus
from revenue.models import Payout
from revenue.services import PayoutError, creator_balance, payout_apply_gateway_status, payout_request, payout_retry
from tests.conftest import run_concurrently
from tests.factories import PayoutFactory, PayoutMethodFactory, UserFactory


def returned_payout(status=GatewayStatus.REVERSED):
    payout = PayoutFactory()
    payout_apply_gateway_status(payout, status, source="webhook", reason="invalid account")
    payout.refresh_from_db()
    return payout


@pytest.mark.django_db
def test_it_creates_a_new_payout_with_a_new_reference_reserving_the_amount_again():
    old = returned_payout()
    staff = UserFactory(is_staff=True)

    new = payout_retry(old, requested_by=staff)

    assert new.retry_of == old
    assert new.status == Payout.Status.PENDING
    assert new.reference != old.reference
    assert new.amount == old.amount
    assert new.requested_by == staff
    balance = creator_balance(old.creator)
    assert (balance.available, balance.in_flight) == (0, old.amount)
    assert new.fee_rows.count() == 1


@pytest.mark.django_db
def test_it_uses_the_method_support_picks():
    old = returned_payout(GatewayStatus.FAILED)
    bank = PayoutMethodFactory(
        creator=old.creator, kind="BANK_ACCOUNT", provider="CRDB BANK PLC", bic="CORUTZTZ", is_default=False
    )
    new = payout_retry(old, requested_by=UserFactory(), method=bank)
    assert new.method == bank
    assert new.method_snapshot["bic"] == "CORUTZTZ"


@pytest.mark.django_db
def test_it_refuses_a_payout_that_was_not_returned():
    payout = PayoutFactory()
    with pytest.raises(PayoutError, match="only failed, refunded or reversed"):
        payout_retry(payout, requested_by=UserFactory())


@pytest.mark.django_db
def test_it_refuses_a_second_retry():
    old = returned_payout()
    payout_retry(old, requested_by=UserFactory())
    with pytest.raises(PayoutError, match="already retried"):
        payout_retry(old, requested_by=UserFactory())


@pytest.mark.django_db
def test_it_refuses_when_the_balance_no_longer_covers_it():
    old = returned_payout()
    payout_request(old.creator)  # the creator took the returned money out another way
    with pytest.raises(PayoutError, match="no longer covers"):
        payout_retry(old, requested_by=UserFactory())
    assert not Payout.objects.filter(retry_of=old).exists()


@pytest.mark.django_db
def test_it_refuses_another_creators_method():
    old = returned_payout()
    other = PayoutMethodFactory(creator=UserFactory(), is_default=False)
    with pytest.raises(PayoutError, match="another creator"):
        payout_retry(old, requested_by=UserFactory(), method=other)


@pytest.mark.django_db(transaction=True)
def test_two_staff_retrying_at_once_create_one_payout():
    old = returned_payout()
    staff = [UserFactory(is_staff=True), UserFactory(is_staff=True)]

    results = run_concurrently(lambda i: payout_retry(old, requested_by=staff[i]), 2)

    created = [r for r in results if isinstance(r, Payout)]
    refused = [r for r in results if isinstance(r, PayoutError)]
    assert (len(created), len(refused)) == (1, 1), results
    assert Payout.objects.filter(retry_of=old).count() == 1
    assert creator_balance(old.creator).in_flight == old.amount
    assert creator_balance(old.creator).available == Decimal("0.00")
