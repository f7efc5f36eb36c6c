"""Money primitives: the currency list, the one rounding rule, and display formatting."""

from decimal import ROUND_HALF_UP, Decimal

from django.db import models

CENT = Decimal("0.01")


class Currency(models.TextChoices):
    TZS = "TZS", "Tanzanian shilling"
    USD = "USD", "US dollar"


def money_field(**kwargs: object) -> models.DecimalField:
    """The one column shape for an amount of money."""
    return models.DecimalField(max_digits=14, decimal_places=2, **kwargs)


def round_money(value: Decimal) -> Decimal:
    """Round half-up to two places: the only rounding rule Blinno applies to money."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str) -> str:
    """Format for people: "TZS 25,000" (whole shillings drop their cents), "USD 12.50"."""
    amount = round_money(amount)
    if amount == amount.to_integral_value():
        return f"{currency} {amount:,.0f}"
    return f"{currency} {amount:,.2f}"
