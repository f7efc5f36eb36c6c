"""Fee rows through an order's life (revenue.fees): quoted, opened, collected, held, released, paid out.

Rates, the minimum and the processing fee's rounding are checked in tests/payments/test_fees.py;
these tests cover what the rows become as the real payment and payout services move them.
"""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from clickpesa.payloads import GatewayStatus
from payments.services import LineSpec, order_create, payment_mark_failed, payment_start
from revenue.fees import earnings_release_due, platform_fee_quote, processing_fee
from revenue.ledger import ledger_audit
from revenue.models import LedgerAccount, LedgerEntry, LedgerTransaction, Payout, PlatformFee, TransactionType
from revenue.services import (
    PayoutError,
    creator_balance,
    payout_apply_gateway_status,
    payout_cancel,
    payout_request,
    payout_retry,
)
from tests.conftest import run_concurrently
from tests.factories import (
    BuyerFactory,
    CreatorFactory,
    OrderFactory,
    PaymentFactory,
    PayoutFactory,
    UserFactory,
    capture,
    earn,
)

Kind = LedgerAccount.Kind
Fee = PlatformFee
HELD_DAYS = 3


def releases() -> list[LedgerTransaction]:
    return list(LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.EARNINGS_RELEASE).order_by("id"))


def after_the_hold() -> datetime:
    return timezone.now() + timedelta(days=HELD_DAYS, minutes=1)


# --- Quotes ----------------------------------------------------------------------------------


def test_a_usd_sale_has_the_usd_minimum_fee():
    quote = platform_fee_quote(TransactionType.TIP, Decimal("5.00"), "USD")  # 3 % would be 0.15
    assert (quote.platform_fee, quote.creator_amount) == (Decimal("0.20"), Decimal("4.80"))


def test_the_rate_takes_over_from_the_minimum_just_above_it():
    at_minimum = platform_fee_quote(TransactionType.MARKETPLACE, Decimal("6250.00"), "TZS")  # 8 % = 500
    above = platform_fee_quote(TransactionType.MARKETPLACE, Decimal("6262.50"), "TZS")  # 8 % = 501
    assert (at_minimum.platform_fee, above.platform_fee) == (Decimal("500.00"), Decimal("501.00"))
    assert above.creator_amount == Decimal("5761.50")


def test_a_platform_fee_on_a_half_cent_rounds_up():
    quote = platform_fee_quote(TransactionType.SUBSCRIPTION, Decimal("10000.10"), "TZS")  # 5 % = 500.005
    assert (quote.platform_fee, quote.creator_amount) == (Decimal("500.01"), Decimal("9500.09"))


@pytest.mark.parametrize(
    ("subtotal", "currency", "fee"),
    [
        (Decimal("100.20"), "TZS", Decimal("752.51")),  # 2.505 + 750: half-up, not to even
        (Decimal("1.00"), "USD", Decimal("0.33")),  # 0.025 + 0.30
        (Decimal("1.20"), "USD", Decimal("0.33")),  # 0.03 + 0.30, nothing to round
    ],
)
def test_the_processing_fee_rounds_half_up(subtotal, currency, fee):
    assert processing_fee(subtotal, currency) == fee


@pytest.mark.django_db
def test_an_order_total_carries_the_rounded_processing_fee():
    order = OrderFactory(amount=Decimal("100.20"))
    assert (order.subtotal, order.processing_fee, order.total) == (
        Decimal("100.20"),
        Decimal("752.51"),
        Decimal("852.71"),
    )


# --- Opening: one row per creator and type ---------------------------------------------------


@pytest.mark.django_db
def test_the_minimum_applies_once_to_a_creators_lines_of_one_type_summed():
    creator = CreatorFactory()
    order = order_create(
        BuyerFactory(),
        lines=[
            LineSpec(creator, TransactionType.TIP, Decimal("2000.00")),
            LineSpec(creator, TransactionType.TIP, Decimal("2000.00")),
        ],
    )
    row = Fee.objects.get(order=order)
    # Per line the minimum would take 500 twice; on the summed 4,000 it takes it once.
    assert (row.subtotal, row.platform_fee, row.creator_amount) == (
        Decimal("4000.00"),
        Decimal("500.00"),
        Decimal("3500.00"),
    )


@pytest.mark.django_db
def test_a_usd_order_opens_usd_fee_rows_with_the_usd_minimum():
    creator = CreatorFactory()
    order = OrderFactory(
        creators=[creator], amount=Decimal("2.00"), transaction_type=TransactionType.TIP, currency="USD"
    )
    row = Fee.objects.get(order=order)
    assert (row.currency, row.rate, row.platform_fee, row.creator_amount, row.status) == (
        "USD",
        Decimal("0.0300"),
        Decimal("0.20"),
        Decimal("1.80"),
        Fee.Status.PENDING,
    )


@pytest.mark.django_db
def test_a_tip_below_the_minimum_leaves_the_creator_nothing_and_the_ledger_balanced():
    creator = CreatorFactory()
    payment = earn(creator, Decimal("300.00"), transaction_type=TransactionType.TIP)
    row = Fee.objects.get(creator=creator)
    assert (row.platform_fee, row.creator_amount) == (Decimal("300.00"), Decimal("0.00"))
    capture_txn = LedgerTransaction.objects.get(payment=payment)
    # No zero entry for the creator (entries are positive); the buyer's money is all fees.
    assert sorted((e.account.kind, e.direction, e.amount) for e in capture_txn.entries.select_related("account")) == [
        (Kind.GATEWAY_CASH, "DEBIT", Decimal("1057.50")),
        (Kind.PLATFORM_FEES, "CREDIT", Decimal("254.24")),
        (Kind.PROCESSING_FEES, "CREDIT", Decimal("641.95")),
        (Kind.VAT_PAYABLE, "CREDIT", Decimal("161.31")),
    ]
    assert creator_balance(creator).earned == 0
    assert ledger_audit(record=False).ok is True


# --- Collecting, refunding, reopening ---------------------------------------------------------


@pytest.mark.django_db
def test_a_capture_without_a_hold_collects_and_releases_the_rows_at_once():
    creator = CreatorFactory()
    payment = earn(creator)
    row = Fee.objects.get(creator=creator)
    assert row.status == Fee.Status.COLLECTED
    assert row.collected_at == payment.completed_at
    assert row.released_at == payment.completed_at
    assert row.hold_until is None
    assert (row.payout_id, row.payout_status) == (None, Fee.PayoutStatus.PENDING)


@pytest.mark.django_db
def test_a_capture_during_a_hold_collects_the_rows_but_keeps_them_unreleased(settings):
    settings.EARNINGS_HOLD_DAYS = HELD_DAYS
    creator = CreatorFactory()
    payment = earn(creator)
    row = Fee.objects.get(creator=creator)
    assert row.status == Fee.Status.COLLECTED
    assert row.collected_at == payment.completed_at
    assert row.hold_until == payment.completed_at + timedelta(days=HELD_DAYS)
    assert row.released_at is None


@pytest.mark.django_db
def test_a_failed_payment_refunds_only_its_own_orders_rows():
    creator = CreatorFactory()
    failing = PaymentFactory(order=OrderFactory(creators=[creator]))
    other_order = OrderFactory(creators=[creator])
    payment_mark_failed(failing, reason="Insufficient balance")
    assert Fee.objects.get(order=failing.order).status == Fee.Status.REFUNDED
    assert Fee.objects.get(order=other_order).status == Fee.Status.PENDING


@pytest.mark.django_db
def test_a_new_attempt_after_a_failure_reopens_the_rows_and_its_capture_collects_them():
    creator = CreatorFactory()
    first = PaymentFactory(order=OrderFactory(creators=[creator]))
    payment_mark_failed(first, reason="Insufficient balance")

    second = payment_start(first.order)
    assert Fee.objects.get(creator=creator).status == Fee.Status.PENDING

    capture(second)
    row = Fee.objects.get(creator=creator)
    assert row.status == Fee.Status.COLLECTED
    assert row.collected_at == second.completed_at
    assert creator_balance(creator).available == Decimal("9200.00")


# --- Attaching rows to a payout ---------------------------------------------------------------


@pytest.mark.django_db
def test_a_payout_takes_only_its_creators_released_collected_unattached_rows_in_its_currency(settings):
    creator, other = CreatorFactory(), CreatorFactory()
    earlier = PayoutFactory(creator=creator)
    payout_apply_gateway_status(earlier, GatewayStatus.SUCCESS, source="webhook")
    on_earlier = Fee.objects.get(payout=earlier)
    released = Fee.objects.get(order=earn(creator, Decimal("10000.00")).order)
    in_usd = Fee.objects.get(order=earn(creator, Decimal("10.00"), currency="USD").order)
    unpaid = Fee.objects.get(order=OrderFactory(creators=[creator]))
    failed = PaymentFactory(order=OrderFactory(creators=[creator]))
    payment_mark_failed(failed, reason="Insufficient balance")
    refunded = Fee.objects.get(order=failed.order)
    someone_elses = Fee.objects.get(order=earn(other).order)
    settings.EARNINGS_HOLD_DAYS = HELD_DAYS
    held = Fee.objects.get(order=earn(creator, Decimal("20000.00")).order)

    payout = payout_request(creator)

    assert payout.amount == released.creator_amount
    assert list(payout.fee_rows.values_list("pk", flat=True)) == [released.pk]
    on_earlier.refresh_from_db()
    assert (on_earlier.payout_id, on_earlier.payout_status) == (earlier.pk, Fee.PayoutStatus.PAID)
    for row in (in_usd, unpaid, refunded, someone_elses, held):
        row.refresh_from_db()
        assert row.payout_id is None, row


@pytest.mark.django_db
def test_held_rows_are_taken_by_the_first_payout_after_their_release(settings):
    creator = CreatorFactory()
    settings.EARNINGS_HOLD_DAYS = HELD_DAYS
    held = Fee.objects.get(order=earn(creator, Decimal("50000.00")).order)
    earnings_release_due(now=after_the_hold())

    payout = payout_request(creator)

    held.refresh_from_db()
    assert (held.payout_id, held.payout_status) == (payout.pk, Fee.PayoutStatus.PENDING)
    assert payout.amount == held.creator_amount


@pytest.mark.django_db
def test_a_retry_takes_back_the_rows_of_the_payout_it_retries():
    payout = PayoutFactory()
    row = payout.fee_rows.get()
    payout_apply_gateway_status(payout, GatewayStatus.FAILED, source="webhook", reason="wallet not registered")

    retry = payout_retry(payout, requested_by=UserFactory(is_staff=True))

    row.refresh_from_db()
    assert (row.payout_id, row.payout_status) == (retry.pk, Fee.PayoutStatus.PENDING)


@pytest.mark.django_db
def test_a_retry_carries_only_the_rows_whose_earnings_it_pays():
    payout = PayoutFactory()
    payout_apply_gateway_status(payout, GatewayStatus.FAILED, source="webhook", reason="wallet not registered")
    later = Fee.objects.get(order=earn(payout.creator, Decimal("10000.00")).order)

    retry = payout_retry(payout, requested_by=UserFactory(is_staff=True))
    rest = payout_request(payout.creator)

    assert retry.amount == payout.amount
    assert sum(r.creator_amount for r in retry.fee_rows.all()) == retry.amount
    later.refresh_from_db()
    assert later.payout_id == rest.pk


# --- Rows follow their payout ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reports", "attached", "payout_status"),
    [
        ([GatewayStatus.PROCESSING], True, Fee.PayoutStatus.PROCESSING),
        ([GatewayStatus.SUCCESS], True, Fee.PayoutStatus.PAID),
        # A payout that came back keeps its rows, unpaid, until a retry or the next payout takes them.
        ([GatewayStatus.PROCESSING, GatewayStatus.FAILED], True, Fee.PayoutStatus.PENDING),
        ([GatewayStatus.REFUNDED], True, Fee.PayoutStatus.PENDING),
        ([GatewayStatus.SUCCESS, GatewayStatus.REVERSED], True, Fee.PayoutStatus.PENDING),
        # A stale report (PROCESSING after PAID) leaves the rows where the payout left them.
        ([GatewayStatus.SUCCESS, GatewayStatus.PROCESSING], True, Fee.PayoutStatus.PAID),
    ],
    ids=lambda value: "-".join(value) if isinstance(value, list) else None,
)
@pytest.mark.django_db
def test_fee_rows_follow_their_payouts_status(reports, attached, payout_status):
    payout = PayoutFactory()
    row = payout.fee_rows.get()
    for report in reports:
        payout_apply_gateway_status(payout, report, source="webhook")
    row.refresh_from_db()
    assert (row.payout_id == payout.pk, row.payout_status) == (attached, payout_status)
    assert row.status == Fee.Status.COLLECTED


@pytest.mark.django_db
def test_a_cancelled_payout_keeps_its_rows_unpaid_and_the_next_payout_takes_them():
    payout = PayoutFactory(submitted=False)
    row = payout.fee_rows.get()
    payout_cancel(payout, by=UserFactory(is_staff=True), reason="creator changed number")
    row.refresh_from_db()
    assert (row.payout_id, row.payout_status) == (payout.pk, Fee.PayoutStatus.PENDING)

    again = payout_request(payout.creator)

    row.refresh_from_db()
    assert (row.payout_id, row.payout_status) == (again.pk, Fee.PayoutStatus.PENDING)
    assert again.amount == payout.amount


# --- Releasing held earnings ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_release_is_posted_per_creator_of_an_order(settings):
    settings.EARNINGS_HOLD_DAYS = HELD_DAYS
    asha, juma = CreatorFactory(), CreatorFactory()
    payment = capture(PaymentFactory(order=OrderFactory(creators=[asha, juma], amount=Decimal("10000.00"))))

    assert earnings_release_due(now=after_the_hold()) == 2

    assert sorted(t.idempotency_key for t in releases()) == sorted(
        f"payment:{payment.pk}:creator:{c.pk}:release" for c in (asha, juma)
    )
    for creator in (asha, juma):
        balance = creator_balance(creator)
        assert (balance.pending, balance.available) == (0, Decimal("9200.00"))
    assert ledger_audit(record=False).ok is True


@pytest.mark.django_db
def test_a_creators_rows_of_two_types_in_one_order_are_released_in_one_posting(settings):
    settings.EARNINGS_HOLD_DAYS = HELD_DAYS
    creator = CreatorFactory()
    order = order_create(
        BuyerFactory(),
        lines=[
            LineSpec(creator, TransactionType.MARKETPLACE, Decimal("10000.00")),  # creator 9,200
            LineSpec(creator, TransactionType.SERVICE_BOOKING, Decimal("20000.00")),  # creator 18,000
        ],
    )
    capture(payment_start(order))

    assert earnings_release_due(now=after_the_hold()) == 1

    (release,) = releases()
    pending = LedgerEntry.objects.get(transaction=release, account__kind=Kind.CREATOR_PENDING)
    assert (pending.direction, pending.amount) == ("DEBIT", Decimal("27200.00"))
    assert Fee.objects.filter(order=order, released_at__isnull=True).count() == 0


@pytest.mark.django_db
def test_only_holds_that_have_ended_are_released(settings):
    settings.EARNINGS_HOLD_DAYS = HELD_DAYS
    creator = CreatorFactory()
    old = earn(creator, Decimal("10000.00"))
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        new = earn(creator, Decimal("20000.00"))

    assert earnings_release_due(now=old.completed_at + timedelta(days=HELD_DAYS, seconds=1)) == 1

    assert Fee.objects.get(order=old.order).released_at is not None
    assert Fee.objects.get(order=new.order).released_at is None
    balance = creator_balance(creator)
    assert (balance.available, balance.pending) == (Decimal("9200.00"), Decimal("18400.00"))


@pytest.mark.django_db
def test_a_hold_on_nothing_is_released_without_a_posting(settings):
    settings.EARNINGS_HOLD_DAYS = HELD_DAYS
    creator = CreatorFactory()
    earn(creator, Decimal("300.00"), transaction_type=TransactionType.TIP)  # the fee takes it all

    assert earnings_release_due(now=after_the_hold()) == 1

    assert releases() == []
    assert Fee.objects.get(creator=creator).released_at is not None
    assert earnings_release_due(now=after_the_hold()) == 0


@pytest.mark.django_db
def test_refunded_rows_are_never_released(settings):
    settings.EARNINGS_HOLD_DAYS = HELD_DAYS
    payment = PaymentFactory()
    payment_mark_failed(payment, reason="Insufficient balance")
    assert earnings_release_due(now=after_the_hold()) == 0
    assert Fee.objects.get(order=payment.order).released_at is None


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_release_runs_release_each_order_once(settings):
    settings.EARNINGS_HOLD_DAYS = HELD_DAYS
    creators = [CreatorFactory() for _ in range(3)]
    for creator in creators:
        earn(creator, Decimal("10000.00"))
    moment = after_the_hold()

    results = run_concurrently(lambda i: earnings_release_due(now=moment), 2)

    assert sum(results) == 3, results
    assert len(releases()) == 3
    for creator in creators:
        assert (creator_balance(creator).pending, creator_balance(creator).available) == (0, Decimal("9200.00"))
    assert earnings_release_due(now=moment) == 0
    assert ledger_audit(record=False).ok is True


@pytest.mark.django_db
def test_a_payout_cannot_be_requested_from_held_earnings(settings):
    settings.EARNINGS_HOLD_DAYS = HELD_DAYS
    creator = CreatorFactory()
    earn(creator, Decimal("50000.00"))
    with pytest.raises(PayoutError, match="Nothing is available"):
        payout_request(creator)
    assert not Payout.objects.exists()
    assert Fee.objects.get(creator=creator).payout_id is None
