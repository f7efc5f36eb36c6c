"""A reversal racing a payout request for the same creator, on real connections: money never leaves twice."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from core.results import Effect
from payments.services import payment_mark_reversed
from revenue.models import Payout
from revenue.services import PayoutError, creator_balance, payout_request
from tests.conftest import run_concurrently
from tests.factories import CreatorFactory, earn

CREATORS = 4


@pytest.mark.django_db(transaction=True)
def test_a_reversal_and_a_payout_request_at_once_never_pay_the_share_twice():
    creators = [CreatorFactory() for _ in range(CREATORS)]
    payments = [earn(creator) for creator in creators]

    def race(i: int):
        creator_index, reverse = divmod(i, 2)
        if reverse:
            return payment_mark_reversed(payments[creator_index], status="REVERSED")
        return payout_request(creators[creator_index])

    results = run_concurrently(race, 2 * CREATORS)

    for index, creator in enumerate(creators):
        reversal, request = results[2 * index + 1], results[2 * index]
        assert reversal.effect == Effect.APPLIED, reversal
        balance = creator_balance(creator)
        reserved = sum(p.amount for p in Payout.objects.filter(creator=creator))
        if isinstance(request, PayoutError):
            # The reversal came first: nothing was left to request, nothing is owed.
            assert (reserved, balance.receivable) == (0, Decimal("0.00")), request
        else:
            # The request came first: what left is owed back, to be recovered from later earnings.
            assert request.amount == reserved == balance.receivable == Decimal("9200.00")
        assert balance.available == Decimal("0.00")
        assert reserved - balance.receivable == 0  # nothing of the reversed sale stays with the creator
    call_command("audit_ledger")  # exits non-zero (SystemExit) on any difference
