"""Random sequences of payout events, with duplicates, against a pure model of the payout states."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.results import Effect
from revenue.ledger import account_balance, account_book, ledger_audit
from revenue.models import LedgerAccount, LedgerTransaction
from revenue.services import creator_balance, payout_apply_gateway_status
from tests.factories import PayoutFactory

from .payout_model import TARGET, PayoutModel

Kind = LedgerAccount.Kind
FEE = Decimal("1180.00")
WORDS = sorted(TARGET)


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
    model = PayoutModel(amount=payout.amount, fee=FEE)
    cash_start = gateway_cash()
    for word in events:
        outcome = payout_apply_gateway_status(
            payout, word, source="webhook", amount=payout.amount + FEE, fee=FEE, reason=f"{word} in test"
        )
        expected = model.apply(word)
        assert {"applied": Effect.APPLIED, "same": Effect.UNCHANGED, "stale": Effect.STALE}[
            expected
        ] == outcome.effect, (
            events,
            word,
        )
        payout.refresh_from_db()
        balance = creator_balance(payout.creator)
        assert payout.status == model.status
        assert (balance.available, balance.in_flight) == (model.available, model.in_flight)
        assert gateway_cash() == cash_start - model.cash_out
        returns = payout.ledger_transactions.filter(kind=LedgerTransaction.Kind.PAYOUT_RETURN).count()
        assert returns == model.returns <= 1
        assert ledger_audit(record=False).ok is True
