"""Random sequences of payout events, with duplicates, reversals of the sale behind the payout and new
sales, against a pure model of the payout states and the creator's money."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.results import Effect
from payments.models import Payment
from payments.refunds import RefundError, refund_request
from payments.services import payment_mark_reversed
from revenue.approvals import approval_approve
from revenue.ledger import account_balance, account_book, ledger_audit
from revenue.models import Approval, LedgerAccount, LedgerTransaction
from revenue.services import creator_balance, payout_apply_gateway_status
from tests.factories import PayoutFactory, earn
from tests.staff import staff

from .payout_model import TARGET, CreatorModel, PayoutModel

Kind = LedgerAccount.Kind
FEE = Decimal("1180.00")
REVERSE, SALE, REFUND = "reverse the sale", "new sale", "refund the sale"
WORDS = [*sorted(TARGET), REVERSE, SALE, REFUND]
EFFECTS = {"applied": Effect.APPLIED, "review": Effect.APPLIED, "same": Effect.UNCHANGED, "stale": Effect.STALE}


def platform(kind: str) -> Decimal:
    return account_balance(account_book("TZS", creator_kinds=(), platform_kinds=[kind]).platform(kind))


def gateway_cash() -> Decimal:
    return platform(Kind.GATEWAY_CASH)


def refund(sale: Payment, support, finance) -> str:
    """Support asks for the whole sale back (not delivered: the fee too), Finance approves."""
    line = sale.order.lines.get()
    try:
        asked = refund_request(sale.order, lines={line.pk: line.amount}, reason="NOT_DELIVERED", note="x", by=support)
    except RefundError:
        return "refused"
    approval_approve(Approval.objects.get(kind=Approval.Kind.REFUND, subject_id=asked.pk), by=finance)
    return "applied"


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
    support, finance = staff("Support"), staff("Finance")
    model = CreatorModel(PayoutModel(amount=payout.amount, fee=FEE))
    cash_start, refunds_start = gateway_cash(), platform(Kind.REFUNDS_IN_FLIGHT)
    for word in events:
        if word == REFUND:
            expected = model.refund_sale(payout.amount, sale.order.subtotal)
            assert refund(sale, support, finance) == expected, (events, word)
            outcome = None
        elif word == REVERSE:
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
        assert platform(Kind.REFUNDS_IN_FLIGHT) == refunds_start + model.refunds_in_flight
        returns = payout.ledger_transactions.filter(kind=LedgerTransaction.Kind.PAYOUT_RETURN).count()
        assert returns == model.payout.returns <= 1
        assert ledger_audit(record=False).ok is True
