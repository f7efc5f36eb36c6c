"""Refunds to buyers: Support asks, another person (Finance) approves, ClickPesa pays the buyer's wallet.

ClickPesa is the project's simulator; its webhooks are dropped, so the payout poller brings the news.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.results import Effect
from notifications.models import Notification
from payments.models import Order, Refund
from payments.refunds import RefundError, refund_request
from revenue.approvals import ApprovalError, approval_approve, approval_reject
from revenue.ledger import account_balance, account_book, ledger_audit
from revenue.models import Approval, LedgerAccount, LedgerTransaction, Payout
from revenue.services import PayoutError, creator_balance, payout_apply_gateway_status, payout_request, payout_retry
from revenue.submission import payout_claim
from tests.factories import CreatorFactory, earn
from tests.polling import PAYOUTS_AFTER, minutes_later, poll_due, simulators, use_simulator_settings
from tests.staff import staff

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db
SHARE = Decimal("9200.00")  # of a 10,000 marketplace line; Blinno's fee on it is 800


def platform(kind: str) -> Decimal:
    return account_balance(account_book("TZS", creator_kinds=(), platform_kinds=[kind]).platform(kind))


@pytest.fixture
def approver(db):
    return staff("Finance", username="fred_finance")


def sold() -> tuple:
    creator = CreatorFactory()
    payment = earn(creator)
    return creator, payment.order, payment


def ask(order: Order, by, *, reason: str = "NOT_DELIVERED", amount: Decimal | None = None) -> Refund:
    line = order.lines.get()
    return refund_request(order, lines={line.pk: amount or line.amount}, reason=reason, note="Never arrived", by=by)


def test_a_refund_waits_for_approval_then_pays_the_buyer_from_the_creators_balance(support_user, approver):
    creator, order, payment = sold()
    fees_before = platform(Kind.PLATFORM_FEES)

    refund = ask(order, support_user)

    assert (refund.status, refund.amount, refund.platform_fee_refunded) == ("REQUESTED", Decimal("10000.00"), 800)
    assert creator_balance(creator).available == SHARE  # nothing moves before approval
    approval = Approval.objects.get(kind=Approval.Kind.REFUND, subject_id=refund.pk)

    approval_approve(approval, by=approver)

    refund.refresh_from_db()
    payout = refund.payout
    assert (refund.status, payout.purpose, payout.status) == ("APPROVED", "REFUND", Payout.Status.PENDING)
    assert payout.reference.startswith("BLNRF") and payout.creator == order.buyer
    assert payout.method_snapshot["account_number"] == (payment.phone_number or order.buyer.phone_number)
    assert creator_balance(creator).available == Decimal("0.00")
    assert platform(Kind.REFUNDS_IN_FLIGHT) == Decimal("10000.00")
    # Not delivered: the fee goes back, its VAT with it (both as credited at capture).
    assert platform(Kind.PLATFORM_FEES) == fees_before - Decimal("677.97") == Decimal("0.00")
    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED  # every line in full
    assert ledger_audit(record=False).ok


def test_nobody_approves_their_own_refund_and_support_cannot_approve(support_user, finance_user):
    _, order, _ = sold()
    by_finance = ask(order, finance_user, amount=Decimal("100.00"))
    approval = Approval.objects.get(subject_id=by_finance.pk, kind="REFUND")

    with pytest.raises(ApprovalError) as own:
        approval_approve(approval, by=finance_user)
    with pytest.raises(ApprovalError) as not_allowed:
        approval_approve(approval, by=support_user)

    assert (own.value.code, not_allowed.value.code) == ("self_approval", "not_allowed")
    assert not Payout.objects.filter(purpose=Payout.Purpose.REFUND).exists()


def test_a_rejected_refund_moves_nothing(support_user, approver):
    creator, order, _ = sold()
    refund = ask(order, support_user)

    approval_reject(Approval.objects.get(subject_id=refund.pk, kind="REFUND"), by=approver, reason="Delivered")

    refund.refresh_from_db()
    assert (refund.status, refund.payout) == ("REJECTED", None)
    assert creator_balance(creator).available == SHARE


def test_a_partial_refund_for_a_buyers_request_keeps_blinnos_fee(support_user, approver):
    creator, order, _ = sold()
    fees_before = platform(Kind.PLATFORM_FEES)

    refund = ask(order, support_user, reason="CUSTOMER_REQUEST", amount=Decimal("5000.00"))
    approval_approve(Approval.objects.get(subject_id=refund.pk, kind="REFUND"), by=approver)

    refund.refresh_from_db()
    assert (refund.amount, refund.platform_fee_refunded) == (Decimal("4600.00"), 0)  # 5,000 less the 8 % fee
    assert creator_balance(creator).available == SHARE - Decimal("4600.00")
    assert platform(Kind.PLATFORM_FEES) == fees_before
    order.refresh_from_db()
    assert order.status == Order.Status.PAID  # part of it only
    with pytest.raises(RefundError) as too_much:
        ask(order, support_user, amount=Decimal("5000.01"))
    assert too_much.value.code == "bad_amount"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [({"reason": "WHIM"}, "bad_reason"), ({"note": " "}, "note_required"), ({"lines": {}}, "no_lines")],
)
def test_a_bad_request_is_refused_and_writes_nothing(support_user, kwargs, code):
    _, order, _ = sold()
    line = order.lines.get()
    request = {"lines": {line.pk: line.amount}, "reason": "FRAUD", "note": "x", **kwargs}

    with pytest.raises(RefundError) as refused:
        refund_request(order, by=support_user, **request)

    assert refused.value.code == code
    assert not Refund.objects.exists() and not Approval.objects.exists()


def test_a_refund_after_the_creator_was_paid_out_becomes_what_they_owe(support_user, approver):
    creator, order, _ = sold()
    payout = payout_request(creator)
    assert payout_claim(payout.pk) == 0
    payout_apply_gateway_status(payout, "SUCCESS", source="webhook")

    refund = ask(order, support_user)
    approval_approve(Approval.objects.get(subject_id=refund.pk, kind="REFUND"), by=approver)

    assert (creator_balance(creator).available, creator_balance(creator).receivable) == (Decimal(0), SHARE)
    earn(creator)  # the next sale pays it back
    assert (creator_balance(creator).available, creator_balance(creator).receivable) == (Decimal(0), Decimal(0))
    assert ledger_audit(record=False).ok


def test_a_refund_returned_by_clickpesa_puts_everything_back(support_user, approver):
    creator, order, _ = sold()
    fees = platform(Kind.PLATFORM_FEES)
    cash = platform(Kind.GATEWAY_CASH)
    refund = ask(order, support_user)
    approval_approve(Approval.objects.get(subject_id=refund.pk, kind="REFUND"), by=approver)
    payout = Payout.objects.get(purpose=Payout.Purpose.REFUND)
    assert payout_claim(payout.pk) == 0
    payout_apply_gateway_status(payout, "SUCCESS", source="webhook", fee=Decimal("500.00"))
    assert platform(Kind.GATEWAY_CASH) == cash - Decimal("10500.00")

    outcome = payout_apply_gateway_status(
        payout, "REVERSED", source="webhook", fee=Decimal("500.00"), reason="Wallet closed", fee_returned=True
    )

    assert outcome.effect == Effect.APPLIED
    assert creator_balance(creator).available == SHARE
    assert (platform(Kind.PLATFORM_FEES), platform(Kind.GATEWAY_CASH)) == (fees, cash)
    assert platform(Kind.REFUNDS_IN_FLIGHT) == Decimal("0.00")
    assert LedgerTransaction.objects.filter(payout=payout, kind="REFUND_RETURN").count() == 1
    alert = Notification.objects.filter(kind=Notification.Kind.FINANCE_ALERT, subject__contains="Refund").first()
    assert alert is not None
    assert ledger_audit(record=False).ok
    # Paying it again is a new request with a new approval, not a retry of the returned payout.
    with pytest.raises(PayoutError, match="request the refund again from its order") as refused:
        payout_retry(payout, requested_by=approver)
    assert refused.value.code == "refund_not_retried"


def test_the_simulator_pays_a_refund_to_the_buyers_wallet(
    settings, support_user, approver, django_capture_on_commit_callbacks
):
    use_simulator_settings(settings)
    with simulators(settings) as start:
        simulator = start()
        _, order, _ = sold()
        refund = ask(order, support_user)

        with django_capture_on_commit_callbacks(execute=True):
            approval_approve(Approval.objects.get(subject_id=refund.pk, kind="REFUND"), by=approver)

        payout = Payout.objects.get(purpose=Payout.Purpose.REFUND)
        assert payout.reference in simulator.payouts  # submitted by the payout submitter
        simulator.deliver_pending()
        with minutes_later(PAYOUTS_AFTER + 1):
            poll_due()

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert platform(Kind.REFUNDS_IN_FLIGHT) == Decimal("0.00")
    paid = Notification.objects.get(kind=Notification.Kind.REFUND_PAID)
    assert paid.recipient == order.buyer
    assert not Notification.objects.filter(kind__startswith="PAYOUT_", recipient=order.buyer).exists()
    assert ledger_audit(record=False).ok


def test_support_asks_for_a_refund_from_the_orders_page(support, approver):
    _, order, _ = sold()
    line = order.lines.get()
    url = "/admin/payments/order/"

    page = support.action(url, "request_refund", [order])
    assert "Give back" in page.content.decode()
    refused = support.action(
        url, "request_refund", [order], apply="1", reason="FRAUD", note="", **{f"line_{line.pk}": "10000"}
    )
    assert "a note is required" in refused.content.decode()
    done = support.action(
        url, "request_refund", [order], apply="1", reason="FRAUD", note="Stolen card", **{f"line_{line.pk}": "2500.50"}
    )

    assert "it is paid once another person approves it" in done.content.decode()
    refund = Refund.objects.get()
    assert (refund.amount, refund.requested_by) == (Decimal("2500.50"), support.user)
    assert Approval.objects.get(kind="REFUND").decision == "PENDING"


def test_a_reversal_after_blinnos_refund_moves_nothing_and_asks_finance(support_user, approver):
    from payments.models import Payment
    from payments.services import payment_mark_reversed

    creator, order, payment = sold()
    refund = ask(order, support_user)
    approval_approve(Approval.objects.get(subject_id=refund.pk, kind="REFUND"), by=approver)

    payment_mark_reversed(payment, status="REVERSED")

    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW
    assert "after Blinno's refund" in payment.notes
    assert not LedgerTransaction.objects.filter(kind="PAYMENT_REVERSAL").exists()
    assert creator_balance(creator).receivable == Decimal("0.00")  # the share was taken once, by the refund
