"""Payout webhooks through the real endpoint: signed, sample-shaped bodies, every handler."""

from decimal import Decimal
from itertools import permutations

import pytest

from clickpesa.models import WebhookEvent
from notifications.models import Notification
from revenue.ledger import account_balance, account_book, ledger_audit
from revenue.models import Deposit, LedgerAccount, LedgerTransaction, Payout, PlatformFee
from revenue.services import creator_balance
from tests.conftest import run_concurrently
from tests.factories import PayoutFactory
from tests.webhooks import post_webhook, sample_body, use_checksum_key

Kind = LedgerAccount.Kind
FEE = Decimal("1180.00")


@pytest.fixture(autouse=True)
def _key(settings):
    use_checksum_key(settings)


def body(payout, kind, **data):
    """A payout webhook for `payout`: kind is PROCESSING, SUCCESS, FAILED, REFUNDED or REVERSED."""
    sample, status = {
        "PROCESSING": ("payout_initiated_processing", None),
        "SUCCESS": ("payout_initiated_success", None),
        "FAILED": ("payout_initiated_processing", "FAILED"),
        "REFUNDED": ("payout_refunded", None),
        "REVERSED": ("payout_reversed", None),
    }[kind]
    if status:
        data["status"] = status
        data["message"] = "Invalid beneficiary number"
    return sample_body(sample, reference=payout.reference, amount=payout.amount + FEE, fee=str(FEE), **data)


def deliver(client, payout, kind, **data):
    return post_webhook(client, body(payout, kind, **data), endpoint="payouts")


def cash():
    return account_balance(account_book("TZS", platform_kinds=[Kind.GATEWAY_CASH]).platform(Kind.GATEWAY_CASH))


def returns(payout):
    return payout.ledger_transactions.filter(kind=LedgerTransaction.Kind.PAYOUT_RETURN).count()


@pytest.mark.django_db
def test_initiated_processing_sets_processing(client):
    payout = PayoutFactory()
    response = deliver(client, payout, "PROCESSING")
    assert response.status_code == 200 and response.json()["status"] == "processed"
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PROCESSING
    assert set(payout.fee_rows.values_list("payout_status", flat=True)) == {"PROCESSING"}
    change = payout.status_changes.last()
    assert (change.source, change.webhook_event_id) == ("webhook", response.json()["event"])
    assert Notification.objects.filter(recipient=payout.creator, kind="PAYOUT_SENT").count() == 1


@pytest.mark.django_db
def test_initiated_success_pays_and_settles(client):
    payout = PayoutFactory()
    cash_before = cash()
    assert deliver(client, payout, "SUCCESS").json()["status"] == "processed"
    payout.refresh_from_db()
    assert (payout.status, payout.gateway_id, payout.gateway_fee) == ("PAID", "PAYX7Q2M9", FEE)
    assert payout.paid_at is not None
    assert set(payout.fee_rows.values_list("payout_status", flat=True)) == {"PAID"}
    settle = payout.ledger_transactions.get(kind=LedgerTransaction.Kind.PAYOUT_SETTLE)
    assert sorted((e.account.kind, e.direction, e.amount) for e in settle.entries.select_related("account")) == sorted(
        [
            (Kind.CREATOR_PAYOUT_IN_FLIGHT, "DEBIT", payout.amount),
            (Kind.GATEWAY_CASH, "CREDIT", payout.amount),
            (Kind.PAYOUT_FEES, "DEBIT", FEE),
            (Kind.GATEWAY_CASH, "CREDIT", FEE),
        ]
    )
    assert cash() == cash_before - payout.amount - FEE
    assert creator_balance(payout.creator).paid_out == payout.amount
    paid = Notification.objects.get(recipient=payout.creator, kind="PAYOUT_PAID")
    assert "M-Pesa ****" in paid.body


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("FAILED", "Invalid beneficiary number"),
        ("REFUNDED", "The payout was refunded due to a processing error."),
        ("REVERSED", "The payout was reversed due to invalid account information."),
    ],
)
@pytest.mark.django_db
def test_a_return_gives_the_money_back_with_the_reason(client, kind, reason):
    payout = PayoutFactory()
    assert deliver(client, payout, kind).json()["status"] == "processed"
    payout.refresh_from_db()
    assert payout.status == kind
    assert reason in payout.notes
    balance = creator_balance(payout.creator)
    assert (balance.available, balance.in_flight) == (payout.amount, 0)
    assert returns(payout) == 1
    assert set(PlatformFee.objects.filter(payout=payout).values_list("payout_status", flat=True)) == {"PENDING"}
    note = Notification.objects.get(recipient=payout.creator, kind="PAYOUT_RETURNED")
    assert reason in note.body and "back in your available balance" in note.body


@pytest.mark.django_db
def test_a_reversal_after_paid_returns_the_money_from_gateway_cash(client):
    payout = PayoutFactory()
    cash_before = cash()
    deliver(client, payout, "SUCCESS")
    deliver(client, payout, "REVERSED", reverse={"message": "Wrong wallet", "reversedAt": "2025-09-17T12:40:00.000Z"})
    payout.refresh_from_db()
    balance = creator_balance(payout.creator)
    assert (payout.status, balance.available, balance.in_flight, balance.paid_out) == (
        "REVERSED",
        payout.amount,
        0,
        0,
    )
    assert cash() == cash_before - FEE  # the amount came back; ClickPesa kept its fee
    assert set(PlatformFee.objects.filter(creator=payout.creator).values_list("payout_status", flat=True)) == {
        "PENDING"
    }
    assert ledger_audit(record=False).ok is True


@pytest.mark.django_db
def test_a_late_processing_after_paid_is_stale(client):
    payout = PayoutFactory()
    deliver(client, payout, "SUCCESS")
    response = deliver(client, payout, "PROCESSING", updatedAt="2025-09-16T07:00:09.000Z")
    assert response.json()["status"] == "stale"
    assert WebhookEvent.objects.get(pk=response.json()["event"]).detail == "PROCESSING after PAID"
    payout.refresh_from_db()
    assert payout.status == "PAID"


@pytest.mark.django_db
def test_an_amount_mismatch_moves_nothing_and_flags_the_payout(client):
    payout = PayoutFactory()
    response = post_webhook(
        client,
        sample_body("payout_initiated_success", reference=payout.reference, amount="999.00", fee="1.00"),
        endpoint="payouts",
    )
    assert response.status_code == 200
    payout.refresh_from_db()
    assert (payout.status, payout.needs_review) == ("PENDING", True)
    assert creator_balance(payout.creator).in_flight == payout.amount


@pytest.mark.django_db
def test_an_unknown_reference_is_acknowledged_and_kept_unmatched(client):
    response = post_webhook(client, sample_body("payout_refunded"), endpoint="payouts")
    assert response.status_code == 200
    assert WebhookEvent.objects.get(pk=response.json()["event"]).status == WebhookEvent.Status.UNMATCHED


@pytest.mark.parametrize("endpoint", ["payouts", "payments"])
@pytest.mark.django_db
def test_a_deposit_is_recorded_once_on_either_endpoint(client, endpoint):
    deposit = sample_body("deposit_received")
    assert post_webhook(client, deposit, endpoint=endpoint).json()["status"] == "processed"
    assert post_webhook(client, deposit, endpoint=endpoint).json()["status"] == "duplicate"
    assert Deposit.objects.get().amount == Decimal("500000.00")
    funding = account_book("TZS", platform_kinds=[Kind.MERCHANT_FUNDING]).platform(Kind.MERCHANT_FUNDING)
    assert account_balance(funding) == Decimal("500000.00")


def _final_state(payout):
    payout.refresh_from_db()
    balance = creator_balance(payout.creator)
    return payout.status, balance.available, balance.in_flight, returns(payout)


SUCCESS_ORDERS = list(permutations(["PROCESSING", "SUCCESS", "REVERSED"]))
FAILURE_ORDERS = list(permutations(["PROCESSING", "FAILED", "REFUNDED", "REVERSED"]))


@pytest.mark.parametrize("order", SUCCESS_ORDERS, ids="-".join)
@pytest.mark.django_db
def test_processing_success_reversed_in_any_order_twice_ends_the_same(client, order):
    payout = PayoutFactory()
    cash_before = cash()
    for kind in order + order:
        assert deliver(client, payout, kind).status_code == 200
    status, available, in_flight, returned = _final_state(payout)
    # Natural order ends REVERSED with the money back. An order where the reversal comes
    # first returns the money before SUCCESS, which is then stale: same balances.
    assert (available, in_flight, returned) == (payout.amount, 0, 1)
    assert status == "REVERSED"
    # The sample reversal has reversedWithFee: ClickPesa's fee comes back too, so cash is whole.
    assert cash() == cash_before
    assert ledger_audit(record=False).ok is True


@pytest.mark.parametrize("order", FAILURE_ORDERS, ids="-".join)
@pytest.mark.django_db
def test_processing_failed_refunded_reversed_in_any_order_twice_return_money_once(client, order):
    payout = PayoutFactory()
    cash_before = cash()
    for kind in order + order:
        assert deliver(client, payout, kind).status_code == 200
    status, available, in_flight, returned = _final_state(payout)
    first_return = next(k for k in order if k != "PROCESSING")
    assert (status, available, in_flight, returned) == (first_return, payout.amount, 0, 1)
    assert cash() == cash_before
    assert ledger_audit(record=False).ok is True


@pytest.mark.django_db(transaction=True)
def test_refunded_and_reversed_at_once_from_two_threads_return_the_money_once():
    from django.test import Client

    payout = PayoutFactory()
    bodies = [body(payout, "REFUNDED"), body(payout, "REVERSED")]

    results = run_concurrently(lambda i: post_webhook(Client(), bodies[i], endpoint="payouts").json(), 2)

    assert sorted(r["status"] for r in results) == ["processed", "stale"], results
    status, available, in_flight, returned = _final_state(payout)
    assert (available, in_flight, returned) == (payout.amount, 0, 1)
    assert status in ("REFUNDED", "REVERSED")
    assert ledger_audit(record=False).ok is True
