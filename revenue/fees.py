"""Blinno's pricing: the platform fee per transaction type and the buyer's processing fee.

Rates and minimums live in settings (PLATFORM_FEE_RATES, PLATFORM_FEE_MINIMUM,
PROCESSING_FEE_RATE, PROCESSING_FEE_FIXED); these functions are the only place they apply.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from .money import round_money


@dataclass(frozen=True)
class FeeQuote:
    rate: Decimal
    platform_fee: Decimal
    creator_amount: Decimal


def platform_fee_quote(transaction_type: str, subtotal: Decimal, currency: str) -> FeeQuote:
    """The platform's cut of one creator's subtotal: rate times subtotal, at least the minimum.

    The fee never exceeds the subtotal, so a tiny tip cannot leave a creator owing money.
    """
    rate = settings.PLATFORM_FEE_RATES[transaction_type]
    minimum = settings.PLATFORM_FEE_MINIMUM.get(currency, Decimal(0))
    fee = min(subtotal, max(minimum, round_money(subtotal * rate)))
    return FeeQuote(rate=rate, platform_fee=fee, creator_amount=subtotal - fee)


def processing_fee(subtotal: Decimal, currency: str) -> Decimal:
    """What the buyer pays on top for payment processing: a percentage plus a fixed amount."""
    fixed = settings.PROCESSING_FEE_FIXED.get(currency, Decimal(0))
    return round_money(subtotal * settings.PROCESSING_FEE_RATE + fixed)
