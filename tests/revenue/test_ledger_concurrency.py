"""Concurrent captures for one creator, on real connections, leave the exact sum."""

from decimal import Decimal

import pytest
from django.core.management import call_command

from core.results import Effect
from payments.services import payment_mark_received
from revenue.models import LedgerAccount, PlatformFee
from tests.conftest import run_concurrently
from tests.factories import CreatorFactory, OrderFactory, PaymentFactory


@pytest.mark.django_db(transaction=True)
def test_twenty_threads_crediting_one_creator_leave_the_exact_sum():
    creator = CreatorFactory()
    payments = [PaymentFactory(order=OrderFactory(creators=[creator], amount=Decimal("10000.00"))) for _ in range(20)]

    def capture(i: int):
        p = payments[i]
        return payment_mark_received(p, amount=p.amount, currency=p.currency)

    results = run_concurrently(capture, 20)

    assert [r.effect for r in results] == [Effect.APPLIED] * 20, results
    expected = sum(PlatformFee.objects.filter(creator=creator).values_list("creator_amount", flat=True))
    assert expected == Decimal("9200.00") * 20
    available = LedgerAccount.objects.get(creator=creator, kind=LedgerAccount.Kind.CREATOR_AVAILABLE)
    assert available.balance == expected
    call_command("audit_ledger")  # exits non-zero (SystemExit) on any difference
