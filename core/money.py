"""Money primitives: the currency list, the one rounding rule, and the one way money and rates are shown."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, TypedDict, Unpack

from django.db import models

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

CENT = Decimal("0.01")

MONEY_DIGITS = 20
"""Digits of a money column, two of them after the point: up to 10^18, so that a total such as
the merchant-funding balance never overflows (numeric(14,2) stopped at 10^12)."""

MONEY_MAX = Decimal(10) ** (MONEY_DIGITS - 2) - CENT
"""The largest amount a money column holds."""


class Currency(models.TextChoices):
    """The currencies Blinno handles; anything else is refused where it enters."""

    TZS = "TZS", "Tanzanian shilling"
    USD = "USD", "US dollar"


def is_currency(code: object) -> bool:
    """Whether ``code`` is one of :class:`Currency` (exactly: upper case, three letters)."""
    return isinstance(code, str) and code in Currency.values


def fits_money_column(amount: Decimal) -> bool:
    """Whether a finite ``amount`` with at most two decimal places fits a money column."""
    return amount.is_finite() and abs(amount) <= MONEY_MAX and amount == amount.quantize(CENT)


class MoneyFieldOptions(TypedDict, total=False):
    """The column options a money field may set; its digits and decimal places are fixed."""

    verbose_name: StrOrPromise
    null: bool
    blank: bool
    default: Decimal | int
    help_text: StrOrPromise
    db_index: bool
    editable: bool


def money_field(**kwargs: Unpack[MoneyFieldOptions]) -> models.DecimalField:
    """The one column shape for an amount of money."""
    return models.DecimalField(max_digits=MONEY_DIGITS, decimal_places=2, **kwargs)


def round_money(value: Decimal) -> Decimal:
    """Round half-up to two places: the only rounding rule Blinno applies to money."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str) -> str:
    """The one way money is shown to people, everywhere: "TZS 81,680.00", "USD 12.50", "TZS -1,180.00".

    Always two places: a column of amounts lines up, and a shortfall of cents is never hidden.
    """
    amount = round_money(amount)
    if not amount:
        amount = abs(amount)  # -0.004 rounds to -0.00, which reads "TZS -0.00"
    return f"{currency} {amount:,.2f}"


def format_rate(rate: Decimal) -> str:
    """A rate kept as a fraction, for people: 0.0800 is "8 %", 0.025 is "2.5 %"."""
    percent = (Decimal(rate) * 100).normalize()
    return f"{percent:f} %"
