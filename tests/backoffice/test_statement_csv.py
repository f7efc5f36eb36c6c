"""statement_rows_from_csv: what it reads from a dashboard export, and what makes it refuse the whole file."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from backoffice.reconciliation import ERRORS_SHOWN, MAX_ROWS, StatementError, statement_rows_from_csv

DAR = ZoneInfo("Africa/Dar_es_Salaam")
HEADER = "id,orderReference,date,description,entry,amount,currency,balance,type"


def csv(*rows: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def row(amount: str = "25000", *, date: str = "2026-05-14", balance: str = "", currency: str = "TZS", **over) -> str:
    cells = {
        "id": "CPS1",
        "orderReference": "BLN1",
        "date": date,
        "description": "Payment",
        "entry": "Credit",
        "amount": amount,
        "currency": currency,
        "balance": balance,
        "type": "Payment",
        **over,
    }
    return ",".join(cells[c] for c in HEADER.split(","))


def refusal(data: bytes) -> str:
    with pytest.raises(StatementError) as caught:
        statement_rows_from_csv(data)
    assert caught.value.code == "bad_statement"
    return caught.value.message


# The file as a whole


def test_an_empty_file_is_refused_as_empty():
    assert refusal(b"") == "The statement is empty."


def test_a_header_without_rows_reads_as_no_rows():
    assert statement_rows_from_csv(csv()) == []


def test_a_file_that_is_not_utf8_is_refused_with_what_to_do():
    data = csv(row(description="Malipo ya caf\xe9")).decode().encode("latin-1")
    assert refusal(data) == "The statement is not UTF-8 text (export it as CSV)."


def test_a_utf16_export_is_refused_not_misread():
    assert "not UTF-8" in refusal(csv(row()).decode().encode("utf-16"))


def test_a_byte_order_mark_before_the_header_is_ignored():
    (record,) = statement_rows_from_csv(b"\xef\xbb\xbf" + csv(row()))
    assert (record.id, record.amount) == ("CPS1", Decimal("25000"))


def test_the_missing_columns_are_named_in_the_statements_order():
    header = "id,orderReference,date,description,amount,currency"
    assert refusal(csv(header=header)) == "The statement lacks the column(s): entry, balance, type."


def test_a_semicolon_separated_file_is_refused_whole_rather_than_misread():
    data = csv(row().replace(",", ";"), header=HEADER.replace(",", ";"))
    assert refusal(data).startswith("The statement lacks the column(s): id, orderReference, date,")


def test_columns_may_come_in_any_order_any_case_with_spaces_and_extras():
    header = " TYPE ,Amount,Currency,Balance,Entry,Description,DATE,OrderReference,ID,Channel"
    data = csv("Payment,25000,TZS,,Credit,Payment,2026-05-14,BLN1,CPS1,M-PESA", header=header)
    (record,) = statement_rows_from_csv(data)
    assert (record.id, record.order_reference, record.type, record.amount) == ("CPS1", "BLN1", "Payment", 25000)


def test_windows_line_endings_read_the_same():
    assert statement_rows_from_csv(csv(row()).replace(b"\n", b"\r\n")) == statement_rows_from_csv(csv(row()))


def test_blank_lines_are_skipped_but_rows_keep_their_line_numbers():
    records = statement_rows_from_csv(csv(row(id="A"), "", ",,,,,,,,", row(id="B")))
    assert [(r.id, r.row_number) for r in records] == [("A", 2), ("B", 5)]


def test_a_quoted_description_may_hold_commas():
    (record,) = statement_rows_from_csv(csv(row(description='"Payment, marketplace order #12"')))
    assert record.description == "Payment, marketplace order #12"


# Amounts


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ('"25,000.00"', "25000.00"),
        ("25000", "25000"),
        ('" 1 180.50 "', "1180.50"),
        ("-46000.00", "46000.00"),
        ('"-1,180"', "1180"),
        ("0.01", "0.01"),
    ],
)
def test_amounts_read_with_separators_and_without_sign(text, amount):
    """The entry (Credit or Debit) gives the direction; the amount is its size."""
    (record,) = statement_rows_from_csv(csv(row(text)))
    assert record.amount == Decimal(amount)


@pytest.mark.parametrize("text", ["abc", "NaN", "Infinity", "-inf", "12.5.0", "TZS 100"])
def test_an_amount_that_is_not_a_finite_number_is_refused_naming_its_row(text):
    assert (
        refusal(csv(row(), row(text))) == f"The statement has unreadable rows: row 3: amount {text!r} is not a number."
    )


def test_an_empty_amount_is_refused():
    assert refusal(csv(row(""))) == "The statement has unreadable rows: row 2: amount is empty."


def test_a_row_cut_short_before_its_amount_is_refused():
    assert refusal(csv("CPS1,BLN1,2026-05-14")) == "The statement has unreadable rows: row 2: amount is empty."


def test_a_row_cut_short_after_its_amount_reads_the_rest_as_empty():
    (record,) = statement_rows_from_csv(csv("CPS1,BLN1,2026-05-14,Payment,Credit,500"))
    assert (record.amount, record.currency, record.balance, record.type) == (Decimal("500"), "", None, "")


def test_the_balance_is_optional_but_must_be_a_number_when_given():
    (with_balance,) = statement_rows_from_csv(csv(row(balance='"1,025,000.00"')))
    assert with_balance.balance == Decimal("1025000.00")
    assert (
        refusal(csv(row(balance="n/a"))) == "The statement has unreadable rows: row 2: balance 'n/a' is not a number."
    )


def test_a_negative_balance_keeps_its_sign():
    (record,) = statement_rows_from_csv(csv(row(balance="-500.00")))
    assert record.balance == Decimal("-500.00")


# Dates


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("14/05/2026 10:00:30", datetime(2026, 5, 14, 10, 0, 30, tzinfo=DAR)),
        ("14/05/2026 10:00", datetime(2026, 5, 14, 10, 0, tzinfo=DAR)),
        ("14/05/2026", datetime(2026, 5, 14, tzinfo=DAR)),
        ("2026-05-14", datetime(2026, 5, 14, tzinfo=DAR)),
        ("2026-05-14 10:00", datetime(2026, 5, 14, 10, 0, tzinfo=DAR)),
        ("2026-05-14T10:00:00+03:00", datetime(2026, 5, 14, 10, 0, tzinfo=DAR)),
        ("2026-05-14T07:00:00Z", datetime(2026, 5, 14, 10, 0, tzinfo=DAR)),
    ],
)
def test_dates_read_in_every_shape_the_dashboard_and_api_write(text, moment):
    (record,) = statement_rows_from_csv(csv(row(date=text)))
    assert record.date == moment


def test_a_date_without_an_offset_is_tanzanian_time():
    (record,) = statement_rows_from_csv(csv(row(date="14/05/2026 02:00")))
    assert record.date.utcoffset().total_seconds() == 3 * 3600
    assert record.date.isoformat() == "2026-05-14T02:00:00+03:00"


def test_an_empty_date_is_no_date():
    (record,) = statement_rows_from_csv(csv(row(date="")))
    assert record.date is None


@pytest.mark.parametrize("text", ["2026-02-30", "30/02/2026", "05/14/2026", "14.05.2026", "yesterday"])
def test_an_impossible_or_foreign_date_is_refused(text):
    assert refusal(csv(row(date=text))) == f"The statement has unreadable rows: row 2: date {text!r} is not a date."


# Cells


def test_cells_are_trimmed_and_the_currency_upper_cased():
    (record,) = statement_rows_from_csv(csv(row(currency=" tzs ", id=" CPS9 ", type=" Payout ")))
    assert (record.currency, record.id, record.type) == ("TZS", "CPS9", "Payout")


def test_overlong_cells_are_cut_to_their_columns():
    (record,) = statement_rows_from_csv(
        csv(row(id="I" * 80, orderReference="R" * 80, description="D" * 600, entry="E" * 20, currency="TZSX"))
    )
    assert (len(record.id), len(record.order_reference), len(record.description), len(record.entry)) == (
        64,
        64,
        500,
        10,
    )
    assert record.currency == "TZS"


# Errors, all at once


def test_every_unreadable_row_is_named_not_only_the_first():
    message = refusal(csv(row("x"), row(), row(date="soon"), row(balance="?")))
    assert message == (
        "The statement has unreadable rows: row 2: amount 'x' is not a number; row 4: date 'soon' is not a date; "
        "row 5: balance '?' is not a number."
    )


def test_a_long_list_of_errors_is_cut_with_how_many_more():
    message = refusal(csv(*[row("bad") for _ in range(ERRORS_SHOWN + 5)]))
    assert message.count("is not a number") == ERRORS_SHOWN
    assert f"row {ERRORS_SHOWN + 1}: amount 'bad'" in message
    assert f"row {ERRORS_SHOWN + 2}:" not in message
    assert message.endswith(" and 5 more.")


# Size


def _many(count: int) -> bytes:
    body = "".join(f"S{i},BLN{i},,x,Credit,1000,TZS,,Payment\n" for i in range(count))
    return (HEADER + "\n" + body + "\n\n").encode()


def test_the_largest_statement_it_reads_has_max_rows():
    records = statement_rows_from_csv(_many(MAX_ROWS))
    assert len(records) == MAX_ROWS
    assert records[-1].row_number == MAX_ROWS + 1


def test_one_row_more_is_refused_whole():
    assert refusal(_many(MAX_ROWS + 1)) == (f"The statement has more than {MAX_ROWS} rows; import a shorter period.")


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["1e20", "100000000000000000000", "25000.005"])
def test_an_amount_no_money_column_holds_refuses_the_import_naming_the_row(amount, finance_user):
    from backoffice.reconciliation import statement_import_csv

    with pytest.raises(StatementError) as caught:
        statement_import_csv(csv(row(), row(amount)), by=finance_user, currency="TZS")
    assert caught.value.message == "The statement has amounts too large or with more than two decimals: row 3."
