"""Blinno's pricing and the fee rows: what each creator earns on an order and what Blinno keeps.

Rates and minimums live in settings (PLATFORM_FEE_RATES, PLATFORM_FEE_MINIMUM,
PROCESSING_FEE_RATE, PROCESSING_FEE_FIXED); these functions are the only place they apply,
and the only code that writes :class:`PlatformFee` rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.money import round_money

from .models import LedgerTransaction, Payout, PlatformFee
from .postings import post_release
from .tax import vat_added


@dataclass(frozen=True)
class FeeQuote:
    rate: Decimal
    platform_fee: Decimal
    creator_amount: Decimal


def platform_fee_quote(transaction_type: str, subtotal: Decimal, currency: str) -> FeeQuote:
    """The platform's cut of one creator's subtotal: rate times subtotal, at least the minimum.

    VAT is added on top when fees are VAT-exclusive (settings.VAT_FEES_INCLUSIVE off). The fee
    never exceeds the subtotal, so a tiny tip cannot leave a creator owing money.
    """
    rate = settings.PLATFORM_FEE_RATES[transaction_type]
    minimum = settings.PLATFORM_FEE_MINIMUM.get(currency, Decimal(0))
    net = max(minimum, round_money(subtotal * rate))
    fee = min(subtotal, net + vat_added(net, timezone.localdate()))
    return FeeQuote(rate=rate, platform_fee=fee, creator_amount=subtotal - fee)


def processing_fee(subtotal: Decimal, currency: str) -> Decimal:
    """What the buyer pays on top for payment processing: a percentage plus a fixed amount (plus VAT
    when fees are VAT-exclusive)."""
    fixed = settings.PROCESSING_FEE_FIXED.get(currency, Decimal(0))
    net = round_money(subtotal * settings.PROCESSING_FEE_RATE + fixed)
    return net + vat_added(net, timezone.localdate())


@dataclass(frozen=True)
class Sale:
    """One order line as the fees see it: who sold what kind of thing for how much."""

    creator_id: int
    transaction_type: str
    amount: Decimal


def fees_open(order_id: int, *, sales: Iterable[Sale], currency: str) -> list[PlatformFee]:
    """Write one PENDING fee row per creator and transaction type of a new order."""
    subtotals: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for sale in sales:
        subtotals[(sale.creator_id, sale.transaction_type)] += sale.amount
    rows = []
    for (creator_id, transaction_type), subtotal in subtotals.items():
        quote = platform_fee_quote(transaction_type, subtotal, currency)
        rows.append(
            PlatformFee(
                order_id=order_id,
                creator_id=creator_id,
                transaction_type=transaction_type,
                subtotal=subtotal,
                rate=quote.rate,
                platform_fee=quote.platform_fee,
                creator_amount=quote.creator_amount,
                currency=currency,
            )
        )
    return PlatformFee.objects.bulk_create(rows)


def fees_collect_many(
    order_ids: Sequence[int], *, now: datetime, hold_until: datetime | None
) -> dict[int, list[PlatformFee]]:
    """Mark the orders' fee rows COLLECTED (earnings held until ``hold_until``, else released now).

    Returns each order's rows (with their creators), read before the update in one statement.
    """
    fees: dict[int, list[PlatformFee]] = {order_id: [] for order_id in order_ids}
    for fee in PlatformFee.objects.filter(order_id__in=order_ids).select_related("creator").order_by("pk"):
        fees[fee.order_id].append(fee)
    PlatformFee.objects.filter(order_id__in=order_ids).update(
        status=PlatformFee.Status.COLLECTED,
        collected_at=now,
        hold_until=hold_until,
        released_at=None if hold_until else now,
        updated_at=now,
    )
    return fees


def fees_refund(order_id: int, *, now: datetime) -> None:
    """Mark an order's fee rows REFUNDED: nothing was (or stays) collected."""
    PlatformFee.objects.filter(order_id=order_id).update(status=PlatformFee.Status.REFUNDED, updated_at=now)


def fees_reopen(order_id: int) -> None:
    """Mark an order's fee rows PENDING again: a new payment attempt may collect them."""
    PlatformFee.objects.filter(order_id=order_id).update(status=PlatformFee.Status.PENDING, updated_at=timezone.now())


def fees_attach(payout: Payout) -> None:
    """Give a new payout the fee rows whose earnings it carries.

    A retry carries the rows of the payout it retries (its amount is theirs). Any other payout
    takes the creator's whole available balance, so it carries every released, collected row
    that no payout in flight or paid carries: rows of no payout yet, and rows a payout that came
    back left behind.
    """
    if payout.retry_of_id is not None:
        rows = PlatformFee.objects.filter(payout_id=payout.retry_of_id)
    else:
        rows = PlatformFee.objects.filter(
            Q(payout__isnull=True) | Q(payout__status__in=Payout.RETURNED_STATUSES),
            creator_id=payout.creator_id,
            currency=payout.currency,
            status=PlatformFee.Status.COLLECTED,
            released_at__isnull=False,
        )
    rows.update(payout=payout, payout_status=PlatformFee.PayoutStatus.PENDING)


def fees_follow_payout(payout: Payout, *, now: datetime) -> None:
    """Move a payout's fee rows along with it: PROCESSING, PAID, or PENDING when it came back.

    Rows a payout that came back carried stay with it, unpaid, until a retry or the next payout
    takes them (:func:`fees_attach`): which earnings a retry pays is then known.
    """
    rows: QuerySet[PlatformFee] = PlatformFee.objects.filter(payout=payout)
    if payout.status == Payout.Status.PROCESSING:
        rows.update(payout_status=PlatformFee.PayoutStatus.PROCESSING, updated_at=now)
    elif payout.status == Payout.Status.PAID:
        rows.update(payout_status=PlatformFee.PayoutStatus.PAID, updated_at=now)
    elif payout.status in Payout.RETURNED_STATUSES:
        rows.update(payout_status=PlatformFee.PayoutStatus.PENDING, updated_at=now)


def earnings_release_due(*, now: datetime | None = None) -> int:
    """Move held earnings whose hold has ended from pending to available; returns releases posted.

    One EARNINGS_RELEASE per order and creator, keyed by the capturing payment, so a
    second run (or two workers at once) releases nothing twice.
    """
    now = now or timezone.now()
    due = (
        PlatformFee.objects.filter(status=PlatformFee.Status.COLLECTED, released_at__isnull=True, hold_until__lte=now)
        .values_list("order_id", "creator_id", "currency")
        .distinct()
    )
    released = 0
    for order_id, creator_id, currency in list(due):
        with transaction.atomic():
            rows = list(
                PlatformFee.objects.select_for_update(skip_locked=True).filter(
                    order_id=order_id,
                    creator_id=creator_id,
                    released_at__isnull=True,
                    status=PlatformFee.Status.COLLECTED,
                )
            )
            if not rows:
                continue
            amount = sum((r.creator_amount for r in rows), Decimal(0))
            if amount > 0:
                # The payment that captured the order is the one its capture transaction names.
                payment_id = LedgerTransaction.objects.values_list("payment_id", flat=True).get(
                    kind=LedgerTransaction.Kind.PAYMENT_CAPTURE, payment__order_id=order_id
                )
                post_release(
                    payment_id=payment_id, order_id=order_id, creator_id=creator_id, currency=currency, amount=amount
                )
            PlatformFee.objects.filter(pk__in=[r.pk for r in rows]).update(released_at=now, updated_at=now)
            released += 1
    return released
