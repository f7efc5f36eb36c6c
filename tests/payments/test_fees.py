"""Orders carry the right fees: platform fee by type with a minimum, the buyer's processing fee."""

from decimal import Decimal

import pytest

from core.money import format_money, round_money
from payments.services import LineSpec, order_create
from revenue.fees import platform_fee_quote, processing_fee
from revenue.models import PlatformFee, TransactionType
from tests.factories import BuyerFactory, CreatorFactory

RATES = [
    (TransactionType.MARKETPLACE, "0.08", "8000.00"),
    (TransactionType.DIGITAL_PRODUCT, "0.06", "6000.00"),
    (TransactionType.SERVICE_BOOKING, "0.10", "10000.00"),
    (TransactionType.COMMISSION, "0.12", "12000.00"),
    (TransactionType.SUBSCRIPTION, "0.05", "5000.00"),
    (TransactionType.TIP, "0.03", "3000.00"),
]


@pytest.mark.parametrize(("transaction_type", "rate", "fee"), RATES)
def test_each_transaction_type_has_its_rate(transaction_type, rate, fee):
    quote = platform_fee_quote(transaction_type, Decimal("100000.00"), "TZS")
    assert quote.rate == Decimal(rate)
    assert quote.platform_fee == Decimal(fee)
    assert quote.creator_amount == Decimal("100000.00") - Decimal(fee)


def test_the_minimum_fee_applies_to_small_sales():
    quote = platform_fee_quote(TransactionType.TIP, Decimal("2000.00"), "TZS")  # 3 % would be 60
    assert quote.platform_fee == Decimal("500.00")
    assert quote.creator_amount == Decimal("1500.00")


def test_the_fee_never_exceeds_the_subtotal():
    quote = platform_fee_quote(TransactionType.TIP, Decimal("300.00"), "TZS")
    assert (quote.platform_fee, quote.creator_amount) == (Decimal("300.00"), Decimal("0.00"))


def test_the_processing_fee_is_a_percentage_plus_a_fixed_amount():
    assert processing_fee(Decimal("25000.00"), "TZS") == Decimal("1375.00")  # 625 + 750
    assert processing_fee(Decimal("10.00"), "USD") == Decimal("0.55")  # 0.25 + 0.30


def test_rounding_is_half_up_to_two_places():
    assert round_money(Decimal("0.005")) == Decimal("0.01")
    assert round_money(Decimal("2.675")) == Decimal("2.68")
    assert round_money(Decimal("-0.005")) == Decimal("-0.01")
    assert platform_fee_quote(TransactionType.DIGITAL_PRODUCT, Decimal("8333.25"), "TZS").platform_fee == Decimal(
        "500.00"
    )
    assert platform_fee_quote(TransactionType.MARKETPLACE, Decimal("10000.0625"), "TZS").platform_fee == Decimal(
        "800.01"
    )


def test_amounts_are_shown_with_separators_and_currency():
    assert format_money(Decimal("25000"), "TZS") == "TZS 25,000.00"
    assert format_money(Decimal("1234.5"), "USD") == "USD 1,234.50"


@pytest.mark.django_db
def test_a_multi_creator_order_has_one_fee_row_per_creator_and_type():
    buyer, asha, juma = BuyerFactory(), CreatorFactory(), CreatorFactory()
    order = order_create(
        buyer,
        lines=[
            LineSpec(asha, TransactionType.MARKETPLACE, Decimal("15000.00")),
            LineSpec(asha, TransactionType.MARKETPLACE, Decimal("5000.00")),
            LineSpec(juma, TransactionType.SERVICE_BOOKING, Decimal("30000.00")),
            LineSpec(juma, TransactionType.TIP, Decimal("1000.00")),
        ],
    )
    assert order.subtotal == Decimal("51000.00")
    assert order.processing_fee == Decimal("2025.00")  # 1275 + 750
    assert order.total == Decimal("53025.00")
    rows = {(f.creator_id, f.transaction_type): f for f in PlatformFee.objects.filter(order=order)}
    assert len(rows) == 3
    assert rows[(asha.pk, TransactionType.MARKETPLACE)].platform_fee == Decimal("1600.00")
    assert rows[(juma.pk, TransactionType.SERVICE_BOOKING)].platform_fee == Decimal("3000.00")
    assert rows[(juma.pk, TransactionType.TIP)].platform_fee == Decimal("500.00")
    assert {f.status for f in rows.values()} == {PlatformFee.Status.PENDING}
    assert sum(f.creator_amount + f.platform_fee for f in rows.values()) == order.subtotal
