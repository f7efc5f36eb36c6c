"""Money primitives: the currency list, the one rounding rule, and display formatting."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, TypedDict, Unpack

from django.db import models

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

CENT = Decimal("0.01")


class Currency(models.TextChoices):
    TZS = "TZS", "Tanzanian shilling"
    USD = "USD", "US dollar"


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
    return models.DecimalField(max_digits=14, decimal_places=2, **kwargs)


def round_money(value: Decimal) -> Decimal:
    """Round half-up to two places: the only rounding rule Blinno applies to money."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str) -> str:
    """Format for people: "TZS 25,000" (whole shillings drop their cents), "USD 12.50"."""
    amount = round_money(amount)
    if not amount:
        amount = abs(amount)  # -0.004 rounds to -0.00, which reads "TZS -0"
    if amount == amount.to_integral_value():
        return f"{currency} {amount:,.0f}"
    return f"{currency} {amount:,.2f}"
