"""A creator's statement written out: a CSV table and a PDF (fpdf2), in the creator's language.

fpdf2 is pure Python (its dependencies install from wheels), so the PDF needs no system
library in the image or in CI. Its built-in Helvetica covers Latin-1; a character outside it
(a name in another script) is printed as "?", never an error.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from fpdf import FPDF
from fpdf.fonts import FontFace

from core.money import format_money
from core.tables import Table
from notifications.models import Notification
from notifications.services import Attachment, Message, notify_many

from .statements import CreatorStatement, Line, creator_statement, statement_month_last

PDF_TYPE = "application/pdf"
_WIDTHS = (28, 30, 38, 58, 22, 22, 24, 24, 29)  # millimetres across A4 landscape's 277


def _line_labels() -> dict[str, str]:
    return {
        Line.SALE: _("Sale"),
        Line.RELEASE: _("Earnings released"),
        Line.PAYOUT: _("Payout requested"),
        Line.PAYOUT_PAID: _("Payout paid"),
        Line.PAYOUT_RETURNED: _("Payout returned"),
        Line.ADJUSTMENT: _("Adjustment"),
        Line.REVERSAL: _("Sale reversed"),
        Line.RECOVERY: _("Debt recovered"),
        Line.OTHER: _("Other"),
    }


def _headers() -> list[str]:
    return [
        _("Date"),
        _("Type"),
        _("Reference"),
        _("Details"),
        _("Sale"),
        _("Blinno fee"),
        _("Withholding tax"),
        _("Amount"),
        _("Balance"),
    ]


def statement_filename(statement: CreatorStatement, extension: str) -> str:
    return f"blinno-statement-{statement.creator.username}-{statement.period}.{extension}"


def month_label(statement: CreatorStatement) -> str:
    """ "March 2026" / "Machi 2026", in the active language."""
    return date_format(statement.start.date(), "F Y")


def statement_table(statement: CreatorStatement) -> Table:
    """The statement as a table (core.tables writes it as CSV): opening row, the lines, closing row."""
    with translation.override(statement.creator.language):
        labels = _line_labels()
        table = Table(title=f"{_('Statement')} {statement.period}", headers=_headers())
        table.rows.append([statement.start, _("Opening balance"), "", "", None, None, None, None, statement.opening])
        for line in statement.lines:
            table.rows.append(
                [
                    line.at,
                    labels[line.line] if line.line != Line.OTHER else line.kind_label,
                    line.reference,
                    line.detail,
                    line.sale,
                    line.platform_fee,
                    line.withholding_tax,
                    line.amount,
                    line.balance,
                ]
            )
        table.rows.append([statement.end, _("Closing balance"), "", "", None, None, None, None, statement.closing])
    return table


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


def _money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def statement_pdf(statement: CreatorStatement) -> bytes:
    """The statement as a one-or-more-page A4 landscape PDF: who, which month, a summary, every line."""
    creator = statement.creator
    cur = statement.currency
    with translation.override(creator.language):
        labels = _line_labels()
        pdf = FPDF(orientation="landscape", format="A4")
        pdf.set_auto_page_break(auto=True, margin=12)
        pdf.set_title(_latin1(f"Blinno {_('Statement')} {statement.period}"))
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 16)
        pdf.cell(0, 9, _latin1(f"Blinno · {_('Statement')} {month_label(statement)}"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 10)
        last_day = timezone.localtime(statement.end).date() - timedelta(days=1)
        for label, value in (
            (_("Creator"), f"{creator.get_full_name() or creator.username} ({creator.username})"),
            (
                _("Period"),
                f"{date_format(statement.start.date(), 'j F Y')} - {date_format(last_day, 'j F Y')} (EAT)",
            ),
            (_("Currency"), cur),
        ):
            pdf.cell(0, 6, _latin1(f"{label}: {value}"), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)

        summary = (
            (_("Opening balance"), statement.opening),
            (_("Sales"), statement.total("sale")),
            (_("Blinno fees"), -statement.total("platform_fee")),
            (_("Withholding tax"), -statement.total("withholding_tax")),
            (_("Paid out"), statement.total_of(Line.PAYOUT_PAID)),
            (_("Closing balance"), statement.closing),
        )
        pdf.set_font("Helvetica", "", 10)
        with pdf.table(col_widths=(60, 40), width=100, align="LEFT", text_align=("LEFT", "RIGHT")) as table:
            for label, amount in summary:
                row = table.row()
                row.cell(_latin1(label))
                row.cell(_latin1(format_money(amount, cur)))
        pdf.ln(4)

        pdf.set_font("Helvetica", "", 8)
        align = ("LEFT", "LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT")
        heading = FontFace(emphasis="BOLD", fill_color=(230, 230, 230))
        with pdf.table(col_widths=_WIDTHS, text_align=align, headings_style=heading, repeat_headings=1) as table:
            row = table.row()
            for header in _headers():
                row.cell(_latin1(header))
            row = table.row()
            for value in (date_format(timezone.localtime(statement.start), "Y-m-d H:i"), _("Opening balance")):
                row.cell(_latin1(value))
            for value in ("", "", "", "", "", "", _money(statement.opening)):
                row.cell(value)
            for line in statement.lines:
                row = table.row()
                label = labels[line.line] if line.line != Line.OTHER else line.kind_label
                for value in (
                    date_format(timezone.localtime(line.at), "Y-m-d H:i"),
                    label,
                    line.reference,
                    line.detail,
                    _money(line.sale),
                    _money(line.platform_fee),
                    _money(line.withholding_tax),
                    _money(line.amount),
                    _money(line.balance),
                ):
                    row.cell(_latin1(value))
            row = table.row()
            for value in (date_format(timezone.localtime(statement.end), "Y-m-d H:i"), _("Closing balance")):
                row.cell(_latin1(value))
            for value in ("", "", "", "", "", "", _money(statement.closing)):
                row.cell(value)
        pdf.ln(3)
        pdf.set_font("Helvetica", "I", 8)
        pdf.multi_cell(
            0,
            4,
            _latin1(
                _(
                    "Your balance is all your money with Blinno: pending, available and on its way to you, "
                    "less anything you owe Blinno. "
                    "Withholding tax is paid to the Tanzania Revenue Authority on your behalf."
                )
            ),
        )
        return bytes(pdf.output())


def statement_send(statement: CreatorStatement) -> int:
    """Write the statement's email (PDF attached) to the notification outbox, once per creator and month."""
    creator = statement.creator
    with translation.override(creator.language):
        month = month_label(statement)
    context = {
        "name": creator.get_short_name() or creator.username,
        "month": month,
        "opening": format_money(statement.opening, statement.currency),
        "closing": format_money(statement.closing, statement.currency),
    }
    attachment = Attachment(statement_filename(statement, "pdf"), PDF_TYPE, statement_pdf(statement))
    key = f"statement:{creator.pk}:{statement.currency}:{statement.period}"
    return notify_many([Message(Notification.Kind.MONTHLY_STATEMENT, key, context, creator, attachment=attachment)])


def statements_send_monthly(*, year: int | None = None, month: int | None = None) -> int:
    """Email last month's statement (or ``year``/``month``'s) to every creator who opted in; return how many.

    Each creator's email is written in its own transaction, so one failure costs one email;
    the outbox's key makes a second run send nothing twice.
    """
    if year is None or month is None:
        year, month = statement_month_last()
    recipients = (
        get_user_model().objects.filter(is_creator=True, is_active=True, statement_emails=True).exclude(email="")
    )
    sent = 0
    for creator in recipients.order_by("pk").iterator():
        with transaction.atomic():
            sent += statement_send(creator_statement(creator, year=year, month=month))
    return sent
