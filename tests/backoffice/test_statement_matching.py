"""Each statement row's verdict against our books, and the records of ours a statement lacks."""

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine

from backoffice.models import StatementImport, StatementLine
from backoffice.reconciliation import StatementError, statement_import_csv, statement_summary
from clickpesa.payloads import GatewayStatus
from revenue.models import Deposit, Payout
from revenue.services import deposit_record, payout_apply_gateway_status
from tests.factories import CreatorFactory, PaymentFactory, PayoutFactory, earn
from tests.staff import paid_payout, returned_payout

Outcome = StatementLine.Outcome
DAR = ZoneInfo("Africa/Dar_es_Salaam")
DAY = datetime(2026, 5, 14, 10, 0, tzinfo=DAR)
HEADER = "id,orderReference,date,description,entry,amount,currency,balance,type"
pytestmark = pytest.mark.django_db


def on_the_day(make, *args, **kwargs):
    with time_machine.travel(DAY):
        return make(*args, **kwargs)


def line(reference: str, amount, *, type: str = "Payment", entry: str = "Credit", currency: str = "TZS", id: str = ""):
    return f"{id},{reference},2026-05-14,{type},{entry},{amount},{currency},,{type}"


def reconcile(*rows: str, currency: str = "TZS", **period) -> StatementImport:
    return statement_import_csv(
        "\n".join([HEADER, *rows]).encode(), by=on_the_day(CreatorFactory), currency=currency, **period
    )


def verdict(statement: StatementImport, reference: str, type: str | None = None) -> StatementLine:
    lines = statement.lines.filter(order_reference=reference, row_number__isnull=False)
    return lines.get(line_type=type) if type else lines.get()


# Payments


def test_a_payment_in_another_currency_differs_by_currency():
    payment = on_the_day(earn, on_the_day(CreatorFactory))
    found = verdict(reconcile(line(payment.reference, payment.amount, currency="USD")), payment.reference)
    assert (found.outcome, found.detail, found.payment) == (Outcome.AMOUNT_DIFFERS, "currency USD, ours TZS", payment)


def test_a_payment_shown_as_a_debit_differs_by_direction():
    payment = on_the_day(earn, on_the_day(CreatorFactory))
    found = verdict(reconcile(line(payment.reference, payment.amount, entry="Debit")), payment.reference)
    assert (found.outcome, found.detail) == (Outcome.AMOUNT_DIFFERS, "Debit entry, expected Credit")


def test_a_payment_row_without_entry_or_currency_is_judged_by_its_amount():
    payment = on_the_day(earn, on_the_day(CreatorFactory))
    found = verdict(reconcile(line(payment.reference, payment.amount, entry="", currency="")), payment.reference)
    assert (found.outcome, found.our_amount) == (Outcome.MATCHED, payment.amount)


def test_a_payment_we_never_heard_of_is_missing_on_our_side():
    found = verdict(reconcile(line("BLNNOBODY0001", "5000")), "BLNNOBODY0001")
    assert (found.outcome, found.detail, found.payment) == (
        Outcome.MISSING_OURS,
        "no payment with this reference",
        None,
    )


def test_a_payment_still_pending_with_us_differs_by_status():
    payment = on_the_day(PaymentFactory)
    found = verdict(reconcile(line(payment.reference, payment.amount)), payment.reference)
    assert (found.outcome, found.detail) == (Outcome.STATUS_DIFFERS, "our payment is Pending")


# Payouts


@pytest.fixture
def paid():
    """A payout of TZS 46,000.00 that ClickPesa paid for a fee of TZS 1,180.00."""
    return on_the_day(paid_payout)


def test_a_payout_row_with_clickpesas_fee_included_matches(paid):
    found = verdict(reconcile(line(paid.reference, "47180.00", type="Payout", entry="Debit")), paid.reference)
    assert (found.outcome, found.amount, found.our_amount, found.payout) == (
        Outcome.MATCHED,
        Decimal("47180.00"),
        Decimal("47180.00"),
        paid,
    )


def test_a_payout_row_of_another_amount_differs_against_the_payout_amount(paid):
    found = verdict(reconcile(line(paid.reference, "50000", type="Payout", entry="Debit")), paid.reference)
    assert (found.outcome, found.our_amount) == (Outcome.AMOUNT_DIFFERS, Decimal("46000.00"))
    assert found.detail == "ClickPesa TZS 50,000.00, ours TZS 46,000.00"


def test_a_payout_row_shown_as_a_credit_differs_by_direction(paid):
    found = verdict(reconcile(line(paid.reference, paid.amount, type="Payout", entry="Credit")), paid.reference)
    assert (found.outcome, found.detail) == (Outcome.AMOUNT_DIFFERS, "Credit entry, expected Debit")


def test_a_payout_we_have_not_sent_differs_by_status():
    pending = on_the_day(PayoutFactory)
    found = verdict(reconcile(line(pending.reference, pending.amount, type="Payout", entry="Debit")), pending.reference)
    assert (found.outcome, found.detail) == (Outcome.STATUS_DIFFERS, "our payout is Pending")


def test_a_payout_that_failed_with_us_differs_by_status():
    failed = on_the_day(returned_payout)
    found = verdict(reconcile(line(failed.reference, failed.amount, type="Payout", entry="Debit")), failed.reference)
    assert (found.outcome, found.detail) == (Outcome.STATUS_DIFFERS, "our payout is Failed")


def test_a_payout_we_never_made_is_missing_on_our_side():
    found = verdict(reconcile(line("BLNPONOBODY1", "1000", type="Payout", entry="Debit")), "BLNPONOBODY1")
    assert (found.outcome, found.detail) == (Outcome.MISSING_OURS, "no payout with this reference")


def test_a_fee_row_matches_the_fee_clickpesa_reported(paid):
    found = verdict(
        reconcile(line(paid.reference, "1180", type="Fee - Payout", entry="Debit")), paid.reference, "Fee - Payout"
    )
    assert (found.outcome, found.our_amount) == (Outcome.MATCHED, Decimal("1180.00"))


def test_a_fee_row_of_another_amount_differs(paid):
    found = verdict(reconcile(line(paid.reference, "1500", type="Fee - Payout", entry="Debit")), paid.reference)
    assert (found.outcome, found.detail) == (Outcome.AMOUNT_DIFFERS, "ClickPesa TZS 1,500.00, ours TZS 1,180.00")


def test_a_fee_row_for_a_payout_without_a_recorded_fee_differs():
    pending = on_the_day(PayoutFactory)
    found = verdict(reconcile(line(pending.reference, "1180", type="Fee - Payout", entry="Debit")), pending.reference)
    assert (found.outcome, found.detail, found.our_amount) == (
        Outcome.AMOUNT_DIFFERS,
        "no ClickPesa fee recorded on our payout",
        None,
    )


@pytest.mark.parametrize("type", ["FEE-PAYOUT", "fee payout", "Fee \u2013 Payout"])
def test_type_names_are_compared_without_case_or_punctuation(paid, type):
    found = verdict(reconcile(line(paid.reference, "1180", type=type, entry="Debit")), paid.reference)
    assert found.outcome == Outcome.MATCHED


@pytest.mark.parametrize(
    ("status", "type"), [(GatewayStatus.REVERSED, "Reversed Payout"), (GatewayStatus.REFUNDED, "Refunded Payout")]
)
def test_money_coming_back_matches_a_payout_we_returned(status, type):
    returned = on_the_day(returned_payout, status)
    found = verdict(reconcile(line(returned.reference, returned.amount, type=type)), returned.reference)
    assert (found.outcome, found.detail) == (Outcome.MATCHED, "")


def test_money_coming_back_for_a_payout_we_think_paid_differs_by_status(paid):
    found = verdict(reconcile(line(paid.reference, paid.amount, type="Reversed Payout")), paid.reference)
    assert (found.outcome, found.detail) == (Outcome.STATUS_DIFFERS, "our payout is Paid")


def test_a_payout_reversed_after_it_was_paid_still_matches_its_debit(paid):
    payout_apply_gateway_status(paid, GatewayStatus.REVERSED, source="webhook", reason="invalid account")
    paid.refresh_from_db()
    assert paid.status == Payout.Status.REVERSED
    statement = reconcile(
        line(paid.reference, paid.amount, type="Payout", entry="Debit"),
        line(paid.reference, paid.amount, type="Reversed Payout", entry="Credit"),
    )
    assert set(statement.lines.filter(order_reference=paid.reference).values_list("outcome", flat=True)) == {
        Outcome.MATCHED
    }


# Deposits and the rest


@pytest.fixture
def deposit():
    on_the_day(deposit_record, reference="DEP20260514A", amount=Decimal("500000.00"), currency="TZS", gateway_id="CPD1")
    return Deposit.objects.get(reference="DEP20260514A")


def test_a_deposit_is_found_by_clickpesas_id_when_the_reference_differs(deposit):
    statement = reconcile(line("", "500000", type="Deposit", id="CPD1"))
    found = statement.lines.get(gateway_id="CPD1")
    assert (found.outcome, found.deposit) == (Outcome.MATCHED, deposit)
    assert not statement.lines.filter(outcome=Outcome.MISSING_THEIRS).exists()


def test_a_deposit_of_another_amount_differs(deposit):
    found = verdict(reconcile(line("DEP20260514A", "400000", type="Deposit")), "DEP20260514A")
    assert (found.outcome, found.detail) == (Outcome.AMOUNT_DIFFERS, "ClickPesa TZS 400,000.00, ours TZS 500,000.00")


def test_a_deposit_we_never_recorded_is_missing_on_our_side():
    found = verdict(reconcile(line("DEPNOBODY", "1000", type="Deposit")), "DEPNOBODY")
    assert (found.outcome, found.detail) == (Outcome.MISSING_OURS, "no deposit with this reference")


@pytest.mark.parametrize(
    ("type", "named"), [("Withdraw", "a Withdraw"), ("Fee - Withdraw", "a Fee - Withdraw"), ("", "a row")]
)
def test_a_row_of_a_kind_we_do_not_keep_is_missing_on_our_side(type, named):
    found = verdict(reconcile(line("CPW1", "1000", type=type, entry="Debit")), "CPW1")
    assert (found.outcome, found.detail) == (Outcome.MISSING_OURS, f"no counterpart in our books for {named}")


# What the statement lacks


def test_our_payouts_paid_or_returned_after_paying_are_missing_theirs_but_failed_ones_are_not(paid):
    failed = on_the_day(returned_payout)
    statement = reconcile(line("CPW1", "1000", type="Withdraw", entry="Debit"))
    missing = statement.lines.filter(outcome=Outcome.MISSING_THEIRS, line_type="Payout")
    assert list(missing.values_list("payout", flat=True)) == [paid.pk]
    assert not statement.lines.filter(payout=failed).exists()


def test_a_missing_record_says_what_and_how_much(paid):
    statement = reconcile(line("CPW1", "1000", type="Withdraw", entry="Debit"))
    ours = statement.lines.get(payout=paid)
    assert (ours.row_number, ours.amount, ours.our_amount, ours.currency) == (None, None, Decimal("46000.00"), "TZS")
    assert ours.detail == "our payout of TZS 46,000.00 is not in the statement"
    assert str(ours) == f"our record · {paid.reference} · Missing on ClickPesa's side"


def test_a_statement_in_dollars_does_not_list_our_shillings(paid, deposit):
    statement = reconcile(line("CPW1", "10", type="Withdraw", entry="Debit", currency="USD"), currency="USD")
    assert not statement.lines.filter(outcome=Outcome.MISSING_THEIRS).exists()


def test_a_given_period_bounds_the_search_for_what_is_missing():
    with time_machine.travel(datetime(2026, 5, 20, 9, 0, tzinfo=DAR)):
        later = earn(CreatorFactory())
    row = line("CPW1", "1000", type="Withdraw", entry="Debit")
    assert not reconcile(row).lines.filter(payment=later).exists()
    wider = reconcile(row, period_end=date(2026, 5, 31))
    assert (wider.period_start, wider.period_end) == (date(2026, 5, 14), date(2026, 5, 31))
    assert wider.lines.get(payment=later).outcome == Outcome.MISSING_THEIRS


def test_a_period_that_starts_after_it_ends_is_refused_and_nothing_kept():
    with pytest.raises(StatementError, match=r"^The period starts after it ends\.$"):
        reconcile(line("CPW1", "1000", type="Withdraw"), period_start=date(2026, 5, 20))
    assert not StatementImport.objects.exists()


def test_rows_without_dates_need_a_period():
    undated = "CPW1,CPW1,,Withdraw,Debit,1000,TZS,,Withdraw"
    with pytest.raises(StatementError, match=r"^The statement has no dates; give the period it covers\.$"):
        reconcile(undated)
    statement = reconcile(undated, period_start=date(2026, 5, 1), period_end=date(2026, 5, 31))
    assert (statement.row_count, statement.lines.get().occurred_at) == (1, None)


def test_an_empty_statement_for_a_period_lists_everything_of_ours(paid, deposit):
    statement = reconcile(period_start=date(2026, 5, 14), period_end=date(2026, 5, 14))
    assert statement.row_count == 0
    assert sorted(statement.lines.values_list("line_type", flat=True)) == ["Deposit", "Payment", "Payout"]
    assert set(statement.lines.values_list("outcome", flat=True)) == {Outcome.MISSING_THEIRS}
    assert statement_summary(statement) == "0 rows read; 3 missing on clickpesa's side"


def test_an_empty_statement_with_nothing_of_ours_has_nothing_to_compare():
    statement = reconcile(period_start=date(2026, 1, 1), period_end=date(2026, 1, 31))
    assert (statement.lines.count(), statement_summary(statement)) == (0, "0 rows read; nothing to compare")


def test_the_import_keeps_who_what_and_the_file_name_cut_to_its_column():
    by = on_the_day(CreatorFactory)
    statement = statement_import_csv(
        f"{HEADER}\n{line('CPW1', '1', type='Withdraw')}".encode(), by=by, currency="TZS", filename="x" * 300
    )
    statement.refresh_from_db()
    assert (statement.source, statement.imported_by, statement.currency, len(statement.filename)) == (
        StatementImport.Source.UPLOAD,
        by,
        "TZS",
        255,
    )
    assert str(statement) == f"Statement #{statement.pk} · TZS 2026-05-14 to 2026-05-14"
    assert str(statement.lines.get()) == "row 2 · CPW1 · Missing on our side"
