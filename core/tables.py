"""Reports as tables, written to CSV or XLSX (openpyxl), with cells a spreadsheet cannot run.

Amounts stay ``Decimal`` and dates stay dates: XLSX cells are typed (numbers with two decimals,
dates as dates) so finance can sum them; CSV writes them as plain literals. Text that a
spreadsheet would read as a formula (OWASP's CSV-injection list: "=", "+", "-", "@", tab,
carriage return) gets a leading quote in both formats.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.utils import timezone
from openpyxl import Workbook

Cell = str | int | Decimal | date | datetime | None

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_MONEY_FORMAT = "#,##0.00"
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
_DATE_FORMAT = "yyyy-mm-dd"

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Table:
    """A report: a title (the sheet's name), column headers and rows of typed cells."""

    title: str
    headers: Sequence[str]
    rows: list[Sequence[Cell]] = field(default_factory=list)


def _safe_text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _local(value: datetime) -> datetime:
    """An aware time as the wall-clock time of settings.TIME_ZONE, naive (spreadsheets keep no zone)."""
    return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _local(value).isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return _safe_text(value)
    return str(value)


def table_csv(table: Table) -> bytes:
    """The table as UTF-8 CSV (with a byte-order mark, so spreadsheets read Kiswahili and names right)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_safe_text(h) for h in table.headers])
    writer.writerows([_csv_cell(v) for v in row] for row in table.rows)
    return ("\ufeff" + out.getvalue()).encode()


def _xlsx_cell(value: Cell) -> Cell:
    if isinstance(value, str):
        return _safe_text(value)
    return _local(value) if isinstance(value, datetime) else value


def table_xlsx(table: Table) -> bytes:
    """The table as one XLSX sheet: money as numbers with two decimals, times as local date-times."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # a new workbook always has its first sheet
    # Sheet names are at most 31 characters and may not hold []:*?/\.
    sheet.title = "".join(c for c in table.title if c not in "[]:*?/\\")[:31] or "Report"
    sheet.append([_safe_text(h) for h in table.headers])
    for row in table.rows:
        sheet.append(
            [_safe_text(v) if isinstance(v, str) else _local(v) if isinstance(v, datetime) else v for v in row]
        )
    for cells in sheet.iter_rows(min_row=2):
        for cell in cells:
            if isinstance(cell.value, Decimal):
                cell.number_format = _MONEY_FORMAT
            elif isinstance(cell.value, datetime):
                cell.number_format = _DATETIME_FORMAT
            elif isinstance(cell.value, date):
                cell.number_format = _DATE_FORMAT
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
