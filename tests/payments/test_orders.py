"""order_create: what an order may hold, what the buyer pays, and the fee rows it opens."""

from decimal import Decimal

import pytest

from core.errors import BlinnoError
from payments.models import Order, OrderLine
from payments.services import LineSpec, order_create
from revenue.models import PlatformFee, TransactionType
from tests.factories import BuyerFactory, CreatorFactory


@pytest.fixture
def buyer(db):
    return BuyerFactory()


@pytest.fixture
def creator(db):
    return CreatorFactory()


def _nothing_written() -> bool:
    return not (Order.objects.exists() or OrderLine.objects.exists() or PlatformFee.objects.exists())


@pytest.mark.django_db
def test_it_refuses_an_order_without_lines(buyer):
    with pytest.raises(BlinnoError) as refused:
        order_create(buyer, lines=[])

    assert refused.value.code == "empty_order"
    assert _nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize("currency", ["EUR", "tzs", ""])
def test_it_refuses_an_unsupported_currency(buyer, creator, currency):
    with pytest.raises(BlinnoError) as refused:
        order_create(buyer, lines=[LineSpec(creator, TransactionType.TIP, Decimal("1000.00"))], currency=currency)

    assert refused.value.code == "bad_currency"
    assert _nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["0", "0.00", "-1.00", "-5000", "10.005", "0.001", "1000.123"])
def test_it_refuses_a_line_amount_that_is_not_positive_or_has_more_than_two_decimals(buyer, creator, amount):
    with pytest.raises(BlinnoError) as refused:
        order_create(buyer, lines=[LineSpec(creator, TransactionType.MARKETPLACE, Decimal(amount))])

    assert refused.value.code == "bad_amount"
    assert amount in refused.value.message
    assert _nothing_written()


@pytest.mark.django_db
def test_one_bad_line_refuses_the_whole_order(buyer, creator):
    lines = [
        LineSpec(creator, TransactionType.MARKETPLACE, Decimal("15000.00")),
        LineSpec(creator, TransactionType.TIP, Decimal("-1.00")),
    ]

    with pytest.raises(BlinnoError):
        order_create(buyer, lines=lines)

    assert _nothing_written()


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["10000", "10000.5", "10000.50", "0.01"])
def test_it_accepts_amounts_with_up_to_two_decimals(buyer, creator, amount):
    order = order_create(buyer, lines=[LineSpec(creator, TransactionType.MARKETPLACE, Decimal(amount))])

    assert order.lines.get().amount == Decimal(amount)


@pytest.mark.django_db
def test_the_buyer_pays_the_subtotal_plus_the_processing_fee(buyer, creator):
    order = order_create(
        buyer,
        lines=[
            LineSpec(creator, TransactionType.MARKETPLACE, Decimal("12000.00")),
            LineSpec(creator, TransactionType.DIGITAL_PRODUCT, Decimal("8000.00")),
        ],
    )

    order.refresh_from_db()
    assert order.status == Order.Status.PENDING
    assert order.currency == "TZS"
    assert order.subtotal == Decimal("20000.00")
    assert order.processing_fee == Decimal("1250.00")  # 2.5 % of 20,000 + 750
    assert order.total == Decimal("21250.00")
    assert order.buyer == buyer


@pytest.mark.django_db
def test_a_dollar_order_takes_the_dollar_processing_fee(buyer, creator):
    lines = [LineSpec(creator, TransactionType.MARKETPLACE, Decimal("40.00"))]

    order = order_create(buyer, lines=lines, currency="USD")

    order.refresh_from_db()
    assert (order.currency, order.subtotal) == ("USD", Decimal("40.00"))
    assert (order.processing_fee, order.total) == (Decimal("1.30"), Decimal("41.30"))  # 2.5 % + 0.30


@pytest.mark.django_db
def test_one_creator_selling_two_types_gets_a_fee_row_for_each_type(buyer, creator):
    order = order_create(
        buyer,
        lines=[
            LineSpec(creator, TransactionType.SUBSCRIPTION, Decimal("10000.00")),
            LineSpec(creator, TransactionType.COMMISSION, Decimal("10000.00")),
        ],
    )

    rows = {f.transaction_type: f for f in PlatformFee.objects.filter(order=order, creator=creator)}
    assert set(rows) == {TransactionType.SUBSCRIPTION, TransactionType.COMMISSION}
    assert rows[TransactionType.SUBSCRIPTION].rate == Decimal("0.05")
    assert rows[TransactionType.SUBSCRIPTION].platform_fee == Decimal("500.00")
    assert rows[TransactionType.COMMISSION].rate == Decimal("0.12")
    assert rows[TransactionType.COMMISSION].platform_fee == Decimal("1200.00")


@pytest.mark.django_db
def test_two_creators_selling_one_type_get_a_fee_row_each(buyer):
    asha, juma = CreatorFactory(), CreatorFactory()

    order = order_create(
        buyer,
        lines=[
            LineSpec(asha, TransactionType.DIGITAL_PRODUCT, Decimal("7000.00")),
            LineSpec(juma, TransactionType.DIGITAL_PRODUCT, Decimal("9000.00")),
        ],
    )

    rows = {f.creator_id: f for f in PlatformFee.objects.filter(order=order)}
    assert set(rows) == {asha.pk, juma.pk}
    assert (rows[asha.pk].subtotal, rows[asha.pk].creator_amount) == (Decimal("7000.00"), Decimal("6500.00"))
    assert (rows[juma.pk].subtotal, rows[juma.pk].creator_amount) == (Decimal("9000.00"), Decimal("8460.00"))
    assert {f.status for f in rows.values()} == {PlatformFee.Status.PENDING}


@pytest.mark.django_db
def test_a_line_without_a_description_is_described_by_its_type(buyer, creator):
    order = order_create(
        buyer,
        lines=[
            LineSpec(creator, TransactionType.SERVICE_BOOKING, Decimal("1000.00")),
            LineSpec(creator, TransactionType.DIGITAL_PRODUCT, Decimal("1000.00")),
            LineSpec(creator, TransactionType.TIP, Decimal("1000.00")),
        ],
    )

    assert sorted(order.lines.values_list("description", flat=True)) == ["Digital Product", "Service Booking", "Tip"]


@pytest.mark.django_db
def test_a_line_keeps_the_description_it_was_given(buyer, creator):
    order = order_create(
        buyer, lines=[LineSpec(creator, TransactionType.MARKETPLACE, Decimal("4500.00"), description="Kanga, blue")]
    )

    line = order.lines.get()
    assert (line.description, line.creator, line.transaction_type) == (
        "Kanga, blue",
        creator,
        TransactionType.MARKETPLACE,
    )


@pytest.mark.django_db
def test_an_order_shows_its_number_total_and_status(buyer, creator):
    order = order_create(buyer, lines=[LineSpec(creator, TransactionType.MARKETPLACE, Decimal("10000.00"))])

    assert str(order) == f"Order #{order.pk} · TZS 11,000.00 · Pending"
    assert str(order.lines.get()) == "Marketplace · TZS 10,000.00"
