"""Money columns hold totals past 10^15: the merchant-funding balance no longer overflows at 10^12."""

from decimal import Decimal

import pytest

from core.money import MONEY_MAX, fits_money_column
from revenue.ledger import ledger_audit
from revenue.models import Deposit, LedgerAccount
from revenue.services import deposit_record

pytestmark = pytest.mark.django_db

LARGEST_DEPOSIT = Decimal("999999999999.99")  # the largest a webhook may carry (clickpesa.payloads)


def funding() -> Decimal:
    return LedgerAccount.objects.get(kind=LedgerAccount.Kind.MERCHANT_FUNDING, currency="TZS").balance


def test_deposits_past_a_trillion_keep_being_recorded():
    for n in range(3):
        assert deposit_record(reference=f"TOPUP{n}", amount=LARGEST_DEPOSIT, currency="TZS").applied
    assert funding() == 3 * LARGEST_DEPOSIT
    assert ledger_audit(record=False).ok is True


def test_a_quadrillion_fits_every_money_column():
    quadrillion = Decimal(10) ** 15
    deposit_record(reference="HUGE", amount=quadrillion, currency="TZS")
    deposit_record(reference="HUGE2", amount=quadrillion, currency="TZS")
    assert Deposit.objects.get(reference="HUGE").amount == quadrillion
    assert funding() == 2 * quadrillion


def test_fits_money_column_says_what_a_column_holds():
    assert fits_money_column(MONEY_MAX) is True
    assert fits_money_column(MONEY_MAX + Decimal("0.01")) is False
    assert fits_money_column(Decimal("1e20")) is False
    assert fits_money_column(Decimal("1.005")) is False
    assert fits_money_column(Decimal("NaN")) is False
