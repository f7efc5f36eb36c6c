"""core.money: one rounding rule (half-up to cents), one display rule, one column shape."""

from decimal import Decimal

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection, models

from core.money import MONEY_MAX, format_money, format_rate, money_field, round_money
from revenue.models import Payout


@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("0.005", "0.01"),
        ("0.004", "0.00"),
        ("0.0049999", "0.00"),
        ("2.675", "2.68"),
        ("2.665", "2.67"),
        ("2.6749", "2.67"),
        ("10.125", "10.13"),
        ("999999999999.995", "1000000000000.00"),
    ],
)
def test_it_rounds_half_up_at_the_cent_boundary(value, rounded):
    assert round_money(Decimal(value)) == Decimal(rounded)


@pytest.mark.parametrize(("value", "rounded"), [("-0.005", "-0.01"), ("-2.675", "-2.68"), ("-2.674", "-2.67")])
def test_it_rounds_a_negative_half_cent_away_from_zero(value, rounded):
    """Half-up on the magnitude: a refund of -2.675 is -2.68, the mirror of 2.675."""
    assert round_money(Decimal(value)) == Decimal(rounded)


def test_it_always_gives_exactly_two_places():
    assert round_money(Decimal("25000")).as_tuple().exponent == -2
    assert str(round_money(Decimal("7.1"))) == "7.10"
    assert str(round_money(Decimal("3"))) == "3.00"


def test_it_reads_an_integer_or_a_decimal_string_the_same_way():
    assert round_money(25000) == round_money(Decimal("25000.000")) == Decimal("25000.00")
    assert round_money(Decimal("1E+3")) == Decimal("1000.00")


def test_it_never_drifts_when_rounding_what_it_already_rounded():
    value = round_money(Decimal("19.995"))
    assert value == Decimal("20.00")
    assert round_money(value) == value


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("25000", "TZS", "TZS 25,000.00"),
        ("25000.00", "TZS", "TZS 25,000.00"),
        ("81680", "TZS", "TZS 81,680.00"),
        ("1234567.89", "TZS", "TZS 1,234,567.89"),
        ("12.5", "USD", "USD 12.50"),
        ("12.50", "USD", "USD 12.50"),
        ("0.75", "USD", "USD 0.75"),
        ("999", "TZS", "TZS 999.00"),
        ("0", "TZS", "TZS 0.00"),
    ],
)
def test_it_formats_for_people(amount, currency, text):
    assert format_money(Decimal(amount), currency) == text


@pytest.mark.parametrize(
    ("amount", "text"),
    [("-25000", "TZS -25,000.00"), ("-12.5", "TZS -12.50"), ("-1180.00", "TZS -1,180.00"), ("-0.01", "TZS -0.01")],
)
def test_it_formats_a_negative_amount_with_its_sign_after_the_currency(amount, text):
    assert format_money(Decimal(amount), "TZS") == text


def test_it_rounds_before_it_formats_so_a_half_cent_shows_as_a_cent():
    assert format_money(Decimal("12.345"), "USD") == "USD 12.35"
    assert format_money(Decimal("24999.995"), "TZS") == "TZS 25,000.00"


def test_whole_amounts_keep_their_cents_in_any_currency():
    """One rule for every amount: a column of amounts lines up, "USD 12.00" beside "USD 12.50"."""
    assert format_money(Decimal("12.00"), "USD") == "USD 12.00"
    assert format_money(Decimal("12.001"), "USD") == "USD 12.00"


@pytest.mark.parametrize("amount", [Decimal("-0.004"), Decimal("-0.00"), Decimal("0.00") * -1])
def test_an_amount_that_rounds_to_nothing_has_no_sign(amount):
    assert format_money(amount, "TZS") == "TZS 0.00"


def test_a_money_field_holds_twenty_digits_with_two_decimal_places():
    field = money_field()
    assert isinstance(field, models.DecimalField)
    assert (field.max_digits, field.decimal_places) == (20, 2)


def test_a_money_field_passes_its_options_on():
    field = money_field(null=True, blank=True, default=0, help_text="What ClickPesa shows", db_index=True)
    assert (field.null, field.blank, field.default, field.help_text, field.db_index) == (
        True,
        True,
        0,
        "What ClickPesa shows",
        True,
    )
    assert (field.max_digits, field.decimal_places) == (20, 2)


MONEY_COLUMNS = sorted(
    (model._meta.db_table, field.column)
    for model in apps.get_models()
    for field in model._meta.get_fields()
    if isinstance(field, models.DecimalField) and field.decimal_places == 2
)


def test_the_money_columns_are_found_by_their_two_places():
    # Every two-place decimal column of every model: each is checked below, new ones included.
    assert ("revenue_ledgeraccount", "balance") in MONEY_COLUMNS
    assert ("revenue_payout", "amount") in MONEY_COLUMNS


@pytest.mark.django_db
@pytest.mark.parametrize(("table", "column"), MONEY_COLUMNS)
def test_money_columns_are_numeric_20_2_in_postgresql(table, column):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type, numeric_precision, numeric_scale FROM information_schema.columns "
            "WHERE table_name = %s AND column_name = %s",
            [table, column],
        )
        assert cursor.fetchone() == ("numeric", 20, 2)


def test_a_money_column_refuses_an_amount_beyond_its_digits():
    """Eighteen digits before the point: a quadrillion fits, 10^18 does not."""
    field = Payout._meta.get_field("amount")
    field.clean(Decimal("1000000000000000.00"), None)
    field.clean(MONEY_MAX, None)
    with pytest.raises(ValidationError, match="no more than 20 digits"):
        field.clean(MONEY_MAX + Decimal("0.01"), None)


@pytest.mark.parametrize(("rate", "text"), [("0.0800", "8 %"), ("0.025", "2.5 %"), ("0.12", "12 %"), ("0", "0 %")])
def test_a_rate_reads_as_a_percentage(rate, text):
    assert format_rate(Decimal(rate)) == text
