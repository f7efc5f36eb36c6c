"""Tax: VAT inside (or on top of) Blinno's fees booked at capture, WHT withheld from payouts, the tax
report and the remittance to the tax authority."""

from datetime import date
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse

from clickpesa.payloads import GatewayStatus
from notifications.models import Notification
from payments.models import Order
from revenue.ledger import account_balance
from revenue.models import LedgerAccount, LedgerTransaction, Payout, PlatformFee
from revenue.reports import revenue_report, tax_report
from revenue.services import payout_apply_gateway_status, payout_request
from revenue.submission import payout_claim
from revenue.tax import rate_on, vat_in
from tests.factories import CreatorFactory, earn
from tests.staff import messages_of

Kind = LedgerAccount.Kind
TAX = reverse("admin:revenue_tax_report")


def balance(kind: str) -> Decimal:
    return account_balance(LedgerAccount.objects.get(kind=kind, creator=None, currency="TZS"))


def capture_entries(payment) -> dict[str, Decimal]:
    txn = LedgerTransaction.objects.get(payment=payment)
    return {e.account.kind: e.amount for e in txn.entries.select_related("account") if e.account.creator_id is None}


def test_the_rate_in_force_is_the_latest_dated_on_or_before_the_day():
    rates = [(date(2015, 7, 1), Decimal("0.18")), (date(2027, 1, 1), Decimal("0.16"))]
    assert rate_on(rates, date(2015, 6, 30)) == 0
    assert rate_on(rates, date(2026, 12, 31)) == Decimal("0.18")
    assert rate_on(rates, date(2027, 1, 1)) == Decimal("0.16")


@pytest.mark.django_db
def test_a_new_vat_rate_applies_to_captures_from_its_date(settings):
    settings.VAT_RATES = [(date(2015, 7, 1), Decimal("0.18")), (date(2027, 1, 1), Decimal("0.16"))]
    with time_machine.travel("2026-12-31 23:00 +0300", tick=False):
        before = earn(CreatorFactory(), Decimal("10000.00"))
    with time_machine.travel("2027-01-01 00:30 +0300", tick=False):
        after = earn(CreatorFactory(), Decimal("10000.00"))
    assert capture_entries(before)[Kind.VAT_PAYABLE] == Decimal("274.57")  # 18 % inside 800 and 1,000
    # 16 %: 800 - 689.66 and 1,000 - 862.07
    assert capture_entries(after)[Kind.VAT_PAYABLE] == Decimal("110.34") + Decimal("137.93")


@pytest.mark.django_db
def test_vat_exclusive_fees_add_the_vat_on_top_and_book_exactly_it(settings):
    settings.VAT_FEES_INCLUSIVE = False
    creator = CreatorFactory()
    payment = earn(creator, Decimal("10000.00"))
    order = Order.objects.get(pk=payment.order_id)
    fee = PlatformFee.objects.get(order=order)
    # Net fees 800 and 1,000; 18 % on top: 144 and 180.
    assert (fee.platform_fee, fee.creator_amount) == (Decimal("944.00"), Decimal("9056.00"))
    assert (order.processing_fee, payment.amount) == (Decimal("1180.00"), Decimal("11180.00"))
    assert capture_entries(payment) == {
        Kind.GATEWAY_CASH: Decimal("11180.00"),
        Kind.PLATFORM_FEES: Decimal("800.00"),
        Kind.PROCESSING_FEES: Decimal("1000.00"),
        Kind.VAT_PAYABLE: Decimal("324.00"),
    }


@pytest.mark.parametrize("net", [Decimal("0.01"), Decimal("500.00"), Decimal("777.77"), Decimal("123456.79")])
def test_vat_taken_back_out_of_a_fee_with_vat_added_is_the_vat_added(net):
    vat = (net * Decimal("0.18")).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    with time_machine.travel("2026-03-01", tick=False):
        assert vat_in(net + vat, date(2026, 3, 1)) == vat


@pytest.mark.django_db
def test_withholding_tax_is_off_by_default():
    creator = CreatorFactory()
    earn(creator, Decimal("50000.00"))
    payout = payout_request(creator)
    assert (payout.amount, payout.withholding_tax) == (Decimal("46000.00"), 0)


@pytest.mark.django_db
def test_wht_is_withheld_at_payout_shown_on_the_notice_and_given_back_when_the_payout_fails(settings):
    settings.WHT_ENABLED = True
    creator = CreatorFactory()
    earn(creator, Decimal("50000.00"))  # 46,000 available
    payout = payout_request(creator)
    assert (payout.amount, payout.withholding_tax, payout.gross_amount) == (
        Decimal("43700.00"),
        Decimal("2300.00"),
        Decimal("46000.00"),
    )
    reserve = LedgerTransaction.objects.get(idempotency_key=f"payout:{payout.pk}:reserve")
    assert sorted((e.account.kind, e.direction, e.amount) for e in reserve.entries.select_related("account")) == [
        (Kind.CREATOR_AVAILABLE, "DEBIT", Decimal("46000.00")),
        (Kind.CREATOR_PAYOUT_IN_FLIGHT, "CREDIT", Decimal("43700.00")),
        (Kind.WHT_PAYABLE, "CREDIT", Decimal("2300.00")),
    ]
    assert balance(Kind.WHT_PAYABLE) == Decimal("2300.00")

    payout_claim(payout.pk)
    payout_apply_gateway_status(payout, GatewayStatus.FAILED, source="webhook", reason="invalid account")
    assert balance(Kind.WHT_PAYABLE) == 0
    available = LedgerAccount.objects.get(creator=creator, kind=Kind.CREATOR_AVAILABLE)
    assert available.balance == Decimal("46000.00")


@pytest.mark.django_db
def test_the_paid_notice_says_how_much_tax_was_withheld(settings):
    settings.WHT_ENABLED = True
    creator = CreatorFactory()
    earn(creator, Decimal("50000.00"))
    payout = payout_request(creator)
    payout_claim(payout.pk)
    payout_apply_gateway_status(payout, GatewayStatus.SUCCESS, source="webhook", fee=Decimal("1180.00"))
    notice = Notification.objects.get(kind=Notification.Kind.PAYOUT_PAID, recipient=creator)
    assert "TZS 43,700.00" in notice.body
    assert "Withholding tax of TZS 2,300.00 was deducted from TZS 46,000.00" in notice.body


@pytest.mark.django_db
def test_the_tax_report_shows_vat_and_wht_due_and_wht_by_creator(settings):
    settings.WHT_ENABLED = True
    asha, juma = CreatorFactory(username="asha"), CreatorFactory(username="juma")
    with time_machine.travel("2026-03-10 12:00 +0300", tick=False):
        earn(asha, Decimal("50000.00"))
        earn(juma, Decimal("10000.00"))
        payout_request(asha)
        payout_request(juma)
    report = tax_report(2026, 3)
    taxes = {t.tax: t for t in report.taxes}
    # 18 % inside 4,000 + 2,000 (610.17 + 305.08) and 800 + 1,000 (274.57)
    assert taxes["VAT"].booked == taxes["VAT"].due == Decimal("915.25") + Decimal("274.57")
    assert taxes["WHT"].booked == taxes["WHT"].due == Decimal("2300.00") + Decimal("460.00")
    assert [(c.username, c.payouts, c.withheld) for c in report.by_creator] == [
        ("asha", 1, Decimal("2300.00")),
        ("juma", 1, Decimal("460.00")),
    ]
    assert tax_report(2026, 4).taxes[0].booked == 0


@pytest.mark.django_db
def test_finance_records_a_remittance_from_gateway_cash_or_the_bank_never_more_than_due(finance):
    earn(CreatorFactory(), Decimal("10000.00"))  # VAT 274.57
    form = {"tax": Kind.VAT_PAYABLE, "currency": "TZS", "paid_from": Kind.GATEWAY_CASH, "note": "VAT this month"}

    too_much = finance.post(TAX, {**form, "amount": "300.00", "reference": "994120000001"})
    assert too_much.status_code == 200
    assert "more than the TZS 274.57 due" in too_much.content.decode()

    done = finance.post(TAX, {**form, "amount": "200.00", "reference": "994120000001"}, follow=True)
    assert messages_of(done)[0].startswith("Remittance #")
    assert balance(Kind.VAT_PAYABLE) == Decimal("74.57")
    assert balance(Kind.GATEWAY_CASH) == Decimal("10800.00")

    again = finance.post(TAX, {**form, "amount": "10.00", "reference": "994120000001"})
    assert "already recorded" in again.content.decode()
    bank = finance.post(
        TAX, {**form, "paid_from": Kind.BANK, "amount": "74.57", "reference": "994120000002"}, follow=True
    )
    assert bank.status_code == 200
    assert balance(Kind.VAT_PAYABLE) == 0
    assert balance(Kind.BANK) == Decimal("-74.57")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad",
    [
        {"amount": "-5"},
        {"amount": "1e400"},
        {"tax": "GATEWAY_CASH"},
        {"paid_from": "PLATFORM_FEES"},
        {"reference": "a b;c"},
        {"currency": "XXX"},
    ],
)
def test_a_bad_remittance_form_moves_no_money(finance, bad):
    earn(CreatorFactory(), Decimal("10000.00"))
    form = {"tax": Kind.VAT_PAYABLE, "currency": "TZS", "paid_from": Kind.GATEWAY_CASH, "amount": "10.00"}
    response = finance.post(TAX, {**form, "reference": "REF001", "note": "VAT", **bad})
    assert response.status_code == 200
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.TAX_REMITTANCE).exists()


@pytest.mark.django_db
def test_support_cannot_see_the_tax_report_or_remit(support):
    assert support.get(TAX).status_code == 403
    assert support.post(TAX, {"tax": Kind.VAT_PAYABLE}).status_code == 403


@pytest.mark.django_db
def test_the_tax_report_downloads(finance):
    earn(CreatorFactory(), Decimal("10000.00"))
    download = finance.get(TAX, {"month": "2026-12", "format": "csv"})
    assert download.status_code == 200
    assert download["Content-Disposition"] == 'attachment; filename="tax-2026-12.csv"'
    assert finance.get(TAX, {"month": "2026-13"}).context["report"] is None


@pytest.mark.django_db
def test_the_revenue_report_shows_fees_per_type_and_nets_the_month_against_the_journal(settings):
    asha = CreatorFactory()
    with time_machine.travel("2026-03-10 12:00 +0300", tick=False):
        earn(asha, Decimal("10000.00"))
        earn(asha, Decimal("2000.00"), transaction_type="TIP")
    rows = {(r[0], r[2], r[3]): r[4:] for r in revenue_report(2026).rows}
    assert rows[("2026-03", "Platform fees (VAT included)", "Marketplace sale")] == [
        Decimal("10000.00"),
        Decimal("800.00"),
    ]
    assert rows[("2026-03", "Platform fees (VAT included)", "Tip")] == [Decimal("2000.00"), Decimal("500.00")]
    # 1,300 of platform fees and 1,800 of processing fees (1,000 + 800), 18 % VAT inside each capture's.
    platform = rows[("2026-03", "Platform fees, net of VAT", "")][1]
    processing = rows[("2026-03", "Processing fees, net of VAT", "")][1]
    vat = rows[("2026-03", "VAT on fees", "")][1]
    assert platform + processing + vat == Decimal("3100.00")
    assert vat == balance(Kind.VAT_PAYABLE)
    assert platform == balance(Kind.PLATFORM_FEES) and processing == balance(Kind.PROCESSING_FEES)
    assert rows[("2026-03", "Net revenue", "")][1] == platform + processing


@pytest.mark.django_db
def test_the_revenue_report_counts_clickpesa_payout_fees_against_revenue():
    creator = CreatorFactory()
    with time_machine.travel("2026-03-10 12:00 +0300", tick=False):
        earn(creator, Decimal("50000.00"))
        payout = payout_request(creator)
        payout_claim(payout.pk)
        payout_apply_gateway_status(payout, GatewayStatus.SUCCESS, source="webhook", fee=Decimal("1180.00"))
    rows = {(r[0], r[2]): r for r in revenue_report(2026).rows}
    assert rows[("2026-03", "ClickPesa payout fees")][5] == Decimal("-1180.00")
    net = rows[("2026-03", "Platform fees, net of VAT")][5] + rows[("2026-03", "Processing fees, net of VAT")][5]
    assert rows[("2026-03", "Net revenue")][5] == net - Decimal("1180.00")
    assert Payout.objects.get().status == Payout.Status.PAID
