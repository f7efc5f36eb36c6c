"""A small pure-Python model of the payout state table (docs/architecture.md), to check the real one against."""

from dataclasses import dataclass
from decimal import Decimal

# Gateway word -> payout status it asks for.
TARGET = {
    "AUTHORIZED": "PROCESSING",
    "PROCESSING": "PROCESSING",
    "PENDING": "PROCESSING",
    "SUCCESS": "PAID",
    "FAILED": "FAILED",
    "REFUNDED": "REFUNDED",
    "REVERSED": "REVERSED",
}
ALLOWED_FROM = {
    "PROCESSING": {"PENDING"},
    "PAID": {"PENDING", "PROCESSING"},
    "FAILED": {"PENDING", "PROCESSING"},
    "REFUNDED": {"PENDING", "PROCESSING", "PAID"},
    "REVERSED": {"PENDING", "PROCESSING", "PAID"},
}
RETURNED = {"FAILED", "REFUNDED", "REVERSED"}


@dataclass
class PayoutModel:
    """Where the payout's money is, as the postings (docs/architecture.md) say it must be."""

    amount: Decimal
    fee: Decimal
    status: str = "PENDING"
    available: Decimal = Decimal(0)
    in_flight: Decimal = Decimal(0)
    cash_out: Decimal = Decimal(0)  # what left gateway cash for this payout (amount + fee)
    returns: int = 0

    def __post_init__(self) -> None:
        self.in_flight = self.amount

    def apply(self, word: str) -> str:
        """Apply a gateway status; return "applied", "same" or "stale"."""
        target = TARGET[word]
        if target == self.status:
            return "same"
        if self.status not in ALLOWED_FROM[target]:
            return "stale"
        if target == "PAID":
            self.in_flight -= self.amount
            self.cash_out += self.amount + self.fee
        elif target in RETURNED:
            if self.status == "PAID":
                self.cash_out -= self.amount
            else:
                self.in_flight -= self.amount
            self.available += self.amount
            self.returns += 1
        self.status = target
        return "applied"


@dataclass
class CreatorModel:
    """The payout's creator around it: the sale that funded the payout reversed, new sales, the debt.

    A reversal takes the share from available and the rest becomes what the creator owes
    (receivable); a new sale pays that back first. ``cash_in`` is what sales net of reversals
    brought into gateway cash since the start.
    """

    payout: PayoutModel
    receivable: Decimal = Decimal(0)
    reversed: bool = False
    refunded: bool = False
    reviewed: bool = False
    cash_in: Decimal = Decimal(0)
    refunds_in_flight: Decimal = Decimal(0)

    def _take(self, share: Decimal) -> None:
        taken = min(self.payout.available, share)
        self.payout.available -= taken
        self.receivable += share - taken

    def reverse_sale(self, share: Decimal, total: Decimal) -> str:
        """ClickPesa gives the sale back: once; after Blinno's own refund it moves nothing and is
        parked for review (once; later reports change nothing)."""
        if self.refunded and not self.reviewed:
            self.reviewed = True
            return "review"
        if self.reversed or self.refunded:
            return "same"
        self._take(share)
        self.cash_in -= total
        self.reversed = True
        return "applied"

    def refund_sale(self, share: Decimal, amount: Decimal) -> str:
        """Blinno refunds the whole sale (approved; its payout not yet paid): refused once given back."""
        if self.reversed or self.refunded:
            return "refused"
        self._take(share)
        self.refunds_in_flight += amount
        self.refunded = True
        return "applied"

    def sale(self, share: Decimal, total: Decimal) -> None:
        recovered = min(self.receivable, share)
        self.receivable -= recovered
        self.payout.available += share - recovered
        self.cash_in += total
