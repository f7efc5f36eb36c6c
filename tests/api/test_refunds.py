"""POST /api/v1/orders/{id}/refunds: a refund asked through the storefront waits for staff approval."""

from decimal import Decimal

from payments.models import Refund
from revenue.models import Approval
from tests.api.conftest import error
from tests.factories import BuyerFactory, CreatorFactory, earn


def paid_order():
    return earn(CreatorFactory(), buyer=BuyerFactory()).order


def test_a_refund_is_asked_and_waits_for_approval(api):
    order = paid_order()
    line = order.lines.get()

    response = api.post(
        f"orders/{order.pk}/refunds",
        {"lines": [{"line": line.pk, "amount": "5000.00"}], "reason": "not_delivered", "note": "Lost in transit"},
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["reason"], body["amount"], body["payout"]) == (
        "requested",
        "not_delivered",
        "5000.00",
        None,
    )
    refund = Refund.objects.get()
    assert refund.requested_by == order.buyer
    assert Approval.objects.get(kind=Approval.Kind.REFUND).subject_id == refund.pk


def test_the_same_idempotency_key_asks_once(api):
    order = paid_order()
    line = order.lines.get()
    body = {"lines": [{"line": line.pk, "amount": "100"}], "reason": "duplicate", "note": "Charged twice"}

    first = api.post(f"orders/{order.pk}/refunds", body, key="refund-1")
    again = api.post(f"orders/{order.pk}/refunds", body, key="refund-1")

    assert (first.status_code, again.status_code, again["Idempotent-Replayed"]) == (201, 201, "true")
    assert Refund.objects.count() == 1


def test_refusals_are_specific_and_move_nothing(api):
    order = paid_order()
    line = order.lines.get()

    too_much = api.post(
        f"orders/{order.pk}/refunds",
        {"lines": [{"line": line.pk, "amount": str(line.amount + Decimal(1))}], "reason": "fraud", "note": "x"},
    )
    unpaid = api.post(
        f"orders/{order.pk + 1000}/refunds", {"lines": [{"line": 1, "amount": "1"}], "reason": "fraud", "note": "x"}
    )
    bad_reason = api.post(
        f"orders/{order.pk}/refunds", {"lines": [{"line": line.pk, "amount": "1"}], "reason": "whim", "note": "x"}
    )

    assert (too_much.status_code, error(too_much)["code"]) == (422, "bad_amount")
    assert unpaid.status_code == 404
    assert (bad_reason.status_code, error(bad_reason)["field"]) == (400, "reason")
    assert not Refund.objects.exists()
