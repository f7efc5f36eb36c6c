"""Money ClickPesa collected for a payment held for review and never credited goes back to the buyer:
Finance asks, another person approves, a refund payout pays it, the review closes."""

from decimal import Decimal

import pytest
from django.urls import reverse

from payments.models import Order, Payment, Refund
from payments.refunds import RefundError, refund_uncredited_request
from payments.services import (
    PaymentError,
    order_cancel,
    payment_mark_received,
    payment_review_capture,
    payment_review_dismiss,
)
from revenue.approvals import approval_approve, approval_reject
from revenue.ledger import account_balance, account_book, ledger_audit
from revenue.models import Approval, LedgerAccount, LedgerTransaction, Payout
from revenue.services import payout_apply_gateway_status
from revenue.submission import payout_claim
from tests.backoffice.test_home import needs_review_payment
from tests.factories import PaymentFactory
from tests.staff import messages_of, staff

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db


def platform(kind: str) -> Decimal:
    return account_balance(account_book("TZS", creator_kinds=(), platform_kinds=[kind]).platform(kind))


@pytest.fixture
def approver(db):
    return staff("Finance", username="fred_finance")


def paid_for_a_cancelled_order() -> Payment:
    """A buyer's wallet was charged after the order was cancelled: held for review, nothing credited."""
    payment = PaymentFactory()
    order_cancel(payment.order)
    payment_mark_received(payment, amount=payment.amount, currency=payment.currency)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW and payment.completed_at is None
    return payment


def test_an_approved_refund_pays_the_collection_back_and_closes_the_review(finance_user, approver):
    payment = paid_for_a_cancelled_order()
    cash, in_flight = platform(Kind.GATEWAY_CASH), platform(Kind.REFUNDS_IN_FLIGHT)

    refund = refund_uncredited_request(
        payment, collected=payment.amount, note="Order cancelled, then paid", by=finance_user
    )

    assert (refund.status, refund.reason, refund.amount) == ("REQUESTED", "UNCREDITED", payment.amount)
    assert platform(Kind.GATEWAY_CASH) == cash  # nothing moves before the approval
    payment.refresh_from_db()
    assert payment.status == Payment.Status.NEEDS_REVIEW

    approval_approve(Approval.objects.get(kind=Approval.Kind.REFUND, subject_id=refund.pk), by=approver)

    refund.refresh_from_db()
    payout = refund.payout
    assert (payout.purpose, payout.status, payout.amount) == ("REFUND", "PENDING", payment.amount)
    assert payout.method_snapshot["account_number"] == (payment.phone_number or payment.order.buyer.phone_number)
    txn = LedgerTransaction.objects.get(payout=payout, kind="REFUND")
    assert sorted((e.account.kind, e.direction, e.amount) for e in txn.entries.select_related("account")) == [
        (Kind.GATEWAY_CASH, "DEBIT", payment.amount),  # the money that arrived, booked at last
        (Kind.REFUNDS_IN_FLIGHT, "CREDIT", payment.amount),
    ]
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payout.reference in payment.failure_reason
    assert payment.order.status == Order.Status.CANCELLED  # untouched

    assert payout_claim(payout.pk) == 0
    payout_apply_gateway_status(payout, "SUCCESS", source="webhook", fee=Decimal("500.00"))
    # Paid: the collection came in and went out; only ClickPesa's fee on the refund stays spent.
    assert platform(Kind.GATEWAY_CASH) == cash - Decimal("500.00")
    assert platform(Kind.REFUNDS_IN_FLIGHT) == in_flight
    assert ledger_audit(record=False).ok


def test_a_refund_that_comes_back_before_it_was_paid_leaves_the_books_as_before(finance_user, approver):
    payment = paid_for_a_cancelled_order()
    cash = platform(Kind.GATEWAY_CASH)
    refund = refund_uncredited_request(payment, collected=payment.amount, note="Cancelled, then paid", by=finance_user)
    approval_approve(Approval.objects.get(kind=Approval.Kind.REFUND, subject_id=refund.pk), by=approver)
    payout = Payout.objects.get(purpose=Payout.Purpose.REFUND)
    assert payout_claim(payout.pk) == 0

    payout_apply_gateway_status(payout, "FAILED", source="webhook", reason="wallet not registered")

    assert (platform(Kind.GATEWAY_CASH), platform(Kind.REFUNDS_IN_FLIGHT)) == (cash, 0)
    assert ledger_audit(record=False).ok


def test_while_the_refund_waits_the_review_cannot_be_captured_or_dismissed_and_a_rejection_reopens_it(
    finance_user, approver
):
    payment = needs_review_payment()  # ClickPesa collected 1,000 less than due, order still pending
    refund = refund_uncredited_request(payment, collected=Decimal("10000.00"), note="Buyer wants out", by=finance_user)

    with pytest.raises(PaymentError) as capture:
        payment_review_capture(payment, collected=Decimal("10000.00"), by=finance_user)
    with pytest.raises(PaymentError) as dismiss:
        payment_review_dismiss(payment, reason="x", by=finance_user)
    with pytest.raises(RefundError) as again:
        refund_uncredited_request(payment, collected=Decimal("10000.00"), note="again", by=finance_user)
    assert (capture.value.code, dismiss.value.code, again.value.code) == ("refund_waiting",) * 3

    approval_reject(
        Approval.objects.get(kind=Approval.Kind.REFUND, subject_id=refund.pk), reason="Capture it", by=approver
    )

    assert payment_review_capture(payment, collected=Decimal("10000.00"), by=finance_user).startswith("Payment")
    assert not Payout.objects.filter(purpose=Payout.Purpose.REFUND).exists()
    assert ledger_audit(record=False).ok


@pytest.mark.parametrize(
    ("collected", "note", "code"),
    [(Decimal("0"), "x", "bad_amount"), (Decimal("10000.00"), " ", "note_required")],
)
def test_a_bad_request_is_refused_and_writes_nothing(finance_user, collected, note, code):
    payment = needs_review_payment()
    with pytest.raises(RefundError) as refused:
        refund_uncredited_request(payment, collected=collected, note=note, by=finance_user)
    assert refused.value.code == code
    assert not Refund.objects.exists() and not Approval.objects.exists()


def test_finance_hands_a_review_to_the_refund_flow_from_the_payment_page(finance):
    payment = paid_for_a_cancelled_order()
    page = reverse("admin:payments_payment_change", args=[payment.pk])
    assert "Refund the buyer (four eyes)" in finance.get(page).content.decode()

    response = finance.post(
        reverse("admin:payments_payment_review", args=[payment.pk]),
        {"resolution": "refund", "collected": str(payment.amount), "note": "Paid after cancelling"},
        follow=True,
    )

    refund = Refund.objects.get(payment=payment)
    assert messages_of(response) == [
        f"Refund #{refund.pk} of TZS {payment.amount:,.2f} to the buyer asked for: another person approves it under "
        "Approvals; then it is paid and this review closes."
    ]
    shown = finance.get(page).content.decode()
    assert 'id="refund-waiting"' in shown and "Capture as collected" not in shown


def test_a_refund_that_came_back_may_be_asked_for_again_from_the_closed_payment(finance, finance_user, approver):
    payment = paid_for_a_cancelled_order()
    first = refund_uncredited_request(payment, collected=payment.amount, note="Cancelled, then paid", by=finance_user)
    approval_approve(Approval.objects.get(kind=Approval.Kind.REFUND, subject_id=first.pk), by=approver)
    returned = Payout.objects.get(purpose=Payout.Purpose.REFUND)
    assert payout_claim(returned.pk) == 0
    payout_apply_gateway_status(returned, "FAILED", source="webhook", reason="wallet not registered")
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    page = reverse("admin:payments_payment_change", args=[payment.pk])
    assert 'id="payment-refund-again"' in finance.get(page).content.decode()

    again = refund_uncredited_request(payment, collected=payment.amount, note="New wallet number", by=finance_user)
    approval_approve(Approval.objects.get(kind=Approval.Kind.REFUND, subject_id=again.pk), by=approver)

    again.refresh_from_db()
    assert again.payout.status == Payout.Status.PENDING and again.payout != returned
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED and again.payout.reference in payment.failure_reason
    assert platform(Kind.REFUNDS_IN_FLIGHT) == payment.amount
    assert 'id="payment-refund-again"' not in finance.get(page).content.decode()
    with pytest.raises(RefundError):  # its last refund is on its way: nothing to ask for
        refund_uncredited_request(payment, collected=payment.amount, note="third", by=finance_user)
    assert ledger_audit(record=False).ok
