"""Random sequences of payout events, with duplicates, reversals of the sale behind the payout and new
sales, against a pure model of the payout states and the creator's money."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.results import Effect
from payments.models import Payment
from payments.services import payment_mark_reversed
from revenue.ledger import account_balance, account_book, ledger_audit
from revenue.models import LedgerAccount, LedgerTransaction
from revenue.services import creator_balance, payout_apply_gateway_status
from tests.factories import PayoutFactory, earn

from .payout_model import TARGET, CreatorModel, PayoutModel

Kind = LedgerAccount.Kind
FEE = Decimal("1180.00")
REVERSE, SALE = "reverse the sale", "new sale"
WORDS = [*sorted(TARGET), REVERSE, SALE]
EFFECTS = {"applied": Effect.APPLIED, "same": Effect.UNCHANGED, "stale": Effect.STALE}


def gateway_cash() -> Decimal:
    return account_balance(account_book("TZS", platform_kinds=[Kind.GATEWAY_CASH]).platform(Kind.GATEWAY_CASH))


@pytest.mark.django_db
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    events=st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).flatmap(
        lambda words: st.permutations(words + words[: len(words) // 2])  # every sequence carries duplicates
    )
)
def test_random_event_sequences_match_the_model(events):
    payout = PayoutFactory()
    sale = Payment.objects.get(order__lines__creator=payout.creator)
    model = CreatorModel(PayoutModel(amount=payout.amount, fee=FEE))
    cash_start = gateway_cash()
    for word in events:
        if word == REVERSE:
            outcome = payment_mark_reversed(sale, status="REVERSED")
            expected = model.reverse_sale(payout.amount, sale.amount)
        elif word == SALE:
            new = earn(payout.creator)
            model.sale(new.order.fees.get().creator_amount, new.amount)
            outcome, expected = None, "applied"
        else:
            outcome = payout_apply_gateway_status(
                payout, word, source="webhook", amount=payout.amount + FEE, fee=FEE, reason=f"{word} in test"
            )
            expected = model.payout.apply(word)
        assert outcome is None or EFFECTS[expected] == outcome.effect, (events, word)
        payout.refresh_from_db()
        balance = creator_balance(payout.creator)
        assert payout.status == model.payout.status
        assert (balance.available, balance.in_flight, balance.receivable) == (
            model.payout.available,
            model.payout.in_flight,
            model.receivable,
        ), (events, word)
        assert gateway_cash() == cash_start - model.payout.cash_out + model.cash_in
        returns = payout.ledger_transactions.filter(kind=LedgerTransaction.Kind.PAYOUT_RETURN).count()
        assert returns == model.payout.returns <= 1
        assert ledger_audit(record=False).ok is True
