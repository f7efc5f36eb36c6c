"""Tax rules, Mainland Tanzania: VAT on Blinno's fees and withholding tax on creator payouts.

Rates come from settings as dated lists (VAT_RATES, WHT_RATES: each rate applies from its
date until the next), never from this code. The postings call these functions; nothing else
decides a tax amount.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings

from core.money import round_money


def rate_on(rates: Sequence[tuple[date, Decimal]], day: date) -> Decimal:
    """The rate in force on ``day``: the latest one dated on or before it (0 before the first)."""
    current = Decimal(0)
    for start, rate in rates:
        if start > day:
            break
        current = rate
    return current


def vat_rate(day: date) -> Decimal:
    return rate_on(settings.VAT_RATES, day)


def vat_added(net_fee: Decimal, day: date) -> Decimal:
    """VAT to add on top of a fee as quoted: the rate times the fee when fees are VAT-exclusive, else 0."""
    if settings.VAT_FEES_INCLUSIVE:
        return Decimal(0)
    return round_money(net_fee * vat_rate(day))


def vat_in(gross_fee: Decimal, day: date) -> Decimal:
    """The VAT inside a fee charged (VAT included): the fee less the fee divided by 1 + rate.

    Whether the quoted fee included VAT or had :func:`vat_added` put on top, the fee charged
    is net plus VAT, and this gives that VAT back to the cent.
    """
    rate = vat_rate(day)
    if not rate or gross_fee <= 0:
        return Decimal(0)
    return gross_fee - round_money(gross_fee / (1 + rate))


@dataclass(frozen=True)
class FeeSplit:
    """A capture's fees as booked: each net of the VAT inside it, and that VAT."""

    platform_net: Decimal
    processing_net: Decimal
    vat: Decimal


def vat_split(platform_fees: Decimal, processing_fee: Decimal, day: date) -> FeeSplit:
    """Take the VAT out of a capture's platform fees and processing fee (each VAT included) on ``day``."""
    platform_vat = vat_in(platform_fees, day)
    processing_vat = vat_in(processing_fee, day)
    return FeeSplit(platform_fees - platform_vat, processing_fee - processing_vat, platform_vat + processing_vat)


def wht_rate(day: date) -> Decimal:
    """The withholding tax rate on a payout made on ``day``; 0 unless settings.WHT_ENABLED."""
    return rate_on(settings.WHT_RATES, day) if settings.WHT_ENABLED else Decimal(0)


def withholding(gross_payout: Decimal, day: date) -> Decimal:
    """Tax withheld from a payout of ``gross_payout`` (what leaves the creator's balance) on ``day``."""
    return round_money(gross_payout * wht_rate(day))
