"""Template filters that show money, rates and moments the one way (core.money, core.display)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django import template

from core.display import format_moment
from core.money import format_money, format_rate

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str = "TZS") -> str:
    """``{{ payout.amount|money:payout.currency }}`` is "TZS 46,000.00"; "—" for no amount."""
    return "—" if amount is None or amount == "" else format_money(Decimal(amount), currency)


@register.filter
def rate(value: Decimal | None) -> str:
    """``{{ fee.rate|rate }}`` is "8 %"."""
    return "—" if value is None else format_rate(value)


@register.filter
def moment(value: datetime | None) -> str:
    """``{{ change.created_at|moment }}`` is "2026-12-06 21:25 EAT"."""
    return format_moment(value)
