"""Statement reconciliation: ClickPesa's account statement against our payments, payouts and deposits.

A statement comes from the merchant dashboard's CSV export or from the statement API. Each
row is matched by `orderReference` (and, for deposits, ClickPesa's id) and compared by
amount, currency and status; our completed payments, paid payouts and deposits of the
period that the statement lacks are recorded too. Every import is kept with its lines.

Payments the statement shows reversed or refunded ("Reversed Payment", "Refunded Payment", with
ClickPesa's charges as "Fee - Reversed Payment") are given back in our books too, once.

Outcomes: MATCHED; AMOUNT_DIFFERS (amount, currency or direction); STATUS_DIFFERS (both
sides know it, but ours is not in a state that moved this money); MISSING_OURS (ClickPesa
moved money we have no record of, or recorded it twice); MISSING_THEIRS (ours, not in the
statement).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from clickpesa.client import ClickPesaClient
from clickpesa.models import WebhookEvent
from clickpesa.payloads import PAYMENT_REVERSED, parse_payment
from clickpesa.polling import PollSummary, ingest_answer
from core.display import format_moment
from core.errors import BlinnoError
from core.money import fits_money_column, format_money
from core.users import User
from payments.models import Payment
from payments.polling import poll_payments_since
from revenue.models import Deposit, Payout
from revenue.polling import poll_payouts_since
from revenue.services import payouts_reconcile

from .models import StatementImport, StatementLine

Outcome = StatementLine.Outcome

CSV_COLUMNS = ("id", "orderReference", "date", "description", "entry", "amount", "currency", "balance", "type")
MAX_ROWS = 100_000
# Errors listed before "and N more": enough to fix a file, short enough to read.
ERRORS_SHOWN = 10
_DATE_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y")
# Payouts whose money left ClickPesa's balance at some point (a return comes on top of the debit).
_PAYOUT_DEBITED = (Payout.Status.PAID, Payout.Status.REFUNDED, Payout.Status.REVERSED)
# Payments whose money reached ClickPesa's balance (a reversal comes on top of the credit).
_PAYMENT_CREDITED = (Payment.Status.COMPLETED, Payment.Status.REFUNDED, Payment.Status.REVERSED)
_PAYMENT_RETURNED = {"reversedpayment": "REVERSED", "refundedpayment": "REFUNDED"}


class StatementError(BlinnoError):
    code = "bad_statement"


class StatementAlreadyImported(StatementError):
    """The same rows were imported before: a second import would count every line twice."""

    code = "statement_already_imported"

    def __init__(self, first: StatementImport) -> None:
        super().__init__(
            f"This statement was already imported as {first} on {format_moment(first.created_at)} "
            f"by {first.imported_by}; open that import instead."
        )
        self.first = first


def statement_digest(records: Sequence[StatementRecord], currency: str, period_start: date, period_end: date) -> str:
    """SHA-256 of a statement's period and rows as read (ids, dates, amounts, balances): the same file
    or answer for the same period twice has the same digest, whatever its file name."""
    digest = hashlib.sha256(f"{currency} {period_start} {period_end}".encode())
    for r in records:
        digest.update(
            repr((r.id, r.order_reference, r.date, r.entry, r.amount, r.currency, r.balance, r.type)).encode()
        )
    return digest.hexdigest()


@dataclass(frozen=True)
class StatementRecord:
    """One statement row, as read from a CSV or the API (`clickpesa.payloads.StatementRow` fits)."""

    id: str
    order_reference: str
    date: datetime | None
    description: str
    entry: str
    amount: Decimal
    currency: str
    balance: Decimal | None
    type: str
    row_number: int | None = None


def _decimal(text: str, what: str) -> Decimal | None:
    cleaned = text.replace(",", "").replace(" ", "").strip()
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise StatementError(f"{what} {text!r} is not a number") from None
    if not value.is_finite():
        raise StatementError(f"{what} {text!r} is not a number")
    return value


def _moment(text: str) -> datetime | None:
    """A statement date; without an offset it is Tanzanian time, as the dashboard shows it."""
    text = text.strip()
    if not text:
        return None
    try:
        parsed = parse_datetime(text)
        if parsed is None and (day := parse_date(text)) is not None:
            parsed = datetime(day.year, day.month, day.day)
    except ValueError:
        parsed = None
    for fmt in _DATE_FORMATS:
        if parsed is not None:
            break
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
    if parsed is None:
        raise StatementError(f"date {text!r} is not a date")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


def statement_rows_from_csv(data: bytes) -> list[StatementRecord]:
    """Read a statement CSV as the merchant dashboard exports it; column names are case-insensitive.

    Refuses the whole file, naming the rows, when a required column is missing or any
    amount or date cannot be read: a half-read statement would report false differences.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise StatementError("The statement is not UTF-8 text (export it as CSV).") from None
    if "\x00" in text:
        # PostgreSQL text holds no NUL, and no statement export has one.
        raise StatementError("The statement holds a NUL character; it is not a CSV export.")
    try:
        return _records(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise StatementError(f"The statement is not readable CSV: {exc}.") from None


def _records(reader: Iterator[list[str]]) -> list[StatementRecord]:
    header = next(reader, None)
    if header is None:
        raise StatementError("The statement is empty.")
    position = {name.strip().lower(): i for i, name in enumerate(header)}
    missing = [c for c in CSV_COLUMNS if c.lower() not in position]
    if missing:
        raise StatementError(f"The statement lacks the column(s): {', '.join(missing)}.")

    records: list[StatementRecord] = []
    errors: list[str] = []
    for number, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(records) >= MAX_ROWS:
            raise StatementError(f"The statement has more than {MAX_ROWS} rows; import a shorter period.")

        def cell(column: str, cells: list[str] = cells) -> str:
            index = position[column.lower()]
            return cells[index].strip() if index < len(cells) else ""

        try:
            amount = _decimal(cell("amount"), "amount")
            if amount is None:
                raise StatementError("amount is empty")
            records.append(
                StatementRecord(
                    id=cell("id")[:64],
                    order_reference=cell("orderReference")[:64],
                    date=_moment(cell("date")),
                    description=cell("description")[:500],
                    entry=cell("entry")[:10],
                    amount=abs(amount),
                    currency=cell("currency").upper()[:3],
                    balance=_decimal(cell("balance"), "balance"),
                    type=cell("type")[:40],
                    row_number=number,
                )
            )
        except StatementError as exc:
            errors.append(f"row {number}: {exc.message}")
    if errors:
        more = f" and {len(errors) - ERRORS_SHOWN} more" if len(errors) > ERRORS_SHOWN else ""
        raise StatementError("The statement has unreadable rows: " + "; ".join(errors[:ERRORS_SHOWN]) + more + ".")
    return records


def _kind(line_type: str) -> str:
    """ "Fee - Payout" -> "feepayout": ClickPesa's type names, compared without case or punctuation."""
    return re.sub(r"[^a-z]", "", line_type.lower())


class _Matcher:
    """Classifies statement rows against our records, loaded once for the whole statement."""

    def __init__(self, records: Sequence[StatementRecord], currency: str) -> None:
        self.currency = currency
        refs = {r.order_reference for r in records if r.order_reference}
        ids = {r.id for r in records if r.id}
        self.payments = Payment.objects.in_bulk(refs, field_name="reference")
        self.payouts = Payout.objects.in_bulk(refs, field_name="reference")
        self.deposits = {d.reference: d for d in Deposit.objects.filter(Q(reference__in=refs) | Q(gateway_id__in=ids))}
        self.deposits.update({d.gateway_id: d for d in self.deposits.values() if d.gateway_id})
        self.seen: Counter[tuple[str, str]] = Counter()
        # ClickPesa's charges for reversing a payment, by reference ("Fee - Reversed Payment" rows).
        self.charges: dict[str, Decimal] = {
            r.order_reference: r.amount
            for r in records
            if _kind(r.type).startswith("fee") and _kind(r.type)[3:] in _PAYMENT_RETURNED
        }
        # Payments the statement shows given back that our books still hold as completed.
        self.returned: list[tuple[StatementLine, Payment, str]] = []

    def line(self, record: StatementRecord) -> StatementLine:
        line = StatementLine(
            row_number=record.row_number,
            gateway_id=record.id,
            order_reference=record.order_reference,
            occurred_at=record.date,
            description=record.description,
            entry=record.entry,
            line_type=record.type,
            amount=record.amount,
            currency=record.currency,
            running_balance=record.balance,
        )
        kind = _kind(record.type)
        key = record.order_reference or record.id
        self.seen[(kind, key)] += 1
        if self.seen[(kind, key)] > 1:
            return self._verdict(
                line, Outcome.MISSING_OURS, f"{record.type} {key} appears again; our books record it once"
            )
        if kind == "payment":
            return self._payment(line, record)
        if kind in _PAYMENT_RETURNED:
            return self._payment_returned(line, record, _PAYMENT_RETURNED[kind])
        if kind.startswith("fee") and kind[3:] in _PAYMENT_RETURNED:
            return self._reversal_charges(line, record)
        if kind in ("payout", "feepayout", "reversedpayout", "refundedpayout"):
            return self._payout(line, record, kind)
        if kind == "deposit":
            return self._deposit(line, record)
        return self._verdict(line, Outcome.MISSING_OURS, f"no counterpart in our books for a {record.type or 'row'}")

    @staticmethod
    def _verdict(line: StatementLine, outcome: str, detail: str) -> StatementLine:
        line.outcome = outcome
        line.detail = detail[:500]
        return line

    def _money_differs(self, record: StatementRecord, expected: Decimal, currency: str, entry: str) -> str:
        """Why the row's money differs from ours ("" when it does not)."""
        if record.currency and record.currency != currency:
            return f"currency {record.currency}, ours {currency}"
        if record.entry and record.entry.lower() != entry:
            return f"{record.entry} entry, expected {entry.title()}"
        if record.amount != expected:
            return f"ClickPesa {format_money(record.amount, currency)}, ours {format_money(expected, currency)}"
        return ""

    def _payment(self, line: StatementLine, record: StatementRecord) -> StatementLine:
        payment = self.payments.get(record.order_reference)
        if payment is None:
            return self._verdict(line, Outcome.MISSING_OURS, "no payment with this reference")
        line.payment, line.our_amount = payment, payment.amount
        differs = self._money_differs(record, payment.amount, payment.currency, "credit")
        if differs:
            return self._verdict(line, Outcome.AMOUNT_DIFFERS, differs)
        if payment.status not in _PAYMENT_CREDITED:
            return self._verdict(line, Outcome.STATUS_DIFFERS, f"our payment is {payment.get_status_display()}")
        return self._verdict(line, Outcome.MATCHED, "")

    def _payment_returned(self, line: StatementLine, record: StatementRecord, status: str) -> StatementLine:
        """A payment ClickPesa gave back: matched when ours is given back too; when ours is still
        completed, the reversal is applied after the import (:func:`_apply_returns`)."""
        payment = self.payments.get(record.order_reference)
        if payment is None:
            return self._verdict(line, Outcome.MISSING_OURS, "no payment with this reference")
        line.payment, line.our_amount = payment, payment.amount
        differs = self._money_differs(record, payment.amount, payment.currency, "debit")
        if differs:
            return self._verdict(line, Outcome.AMOUNT_DIFFERS, differs)
        if payment.status in (Payment.Status.REVERSED, Payment.Status.REFUNDED):
            return self._verdict(line, Outcome.MATCHED, "")
        if payment.status == Payment.Status.COMPLETED:
            self.returned.append((line, payment, status))
        return self._verdict(line, Outcome.STATUS_DIFFERS, f"our payment is {payment.get_status_display()}")

    def _reversal_charges(self, line: StatementLine, record: StatementRecord) -> StatementLine:
        payment = self.payments.get(record.order_reference)
        if payment is None:
            return self._verdict(line, Outcome.MISSING_OURS, "no payment with this reference")
        line.payment, line.our_amount = payment, payment.reversal_charges
        if payment.reversal_charges is None and not any(p.pk == payment.pk for _, p, _ in self.returned):
            return self._verdict(line, Outcome.AMOUNT_DIFFERS, "no ClickPesa charges recorded on our payment")
        differs = self._money_differs(record, payment.reversal_charges or record.amount, payment.currency, "debit")
        return self._verdict(line, Outcome.AMOUNT_DIFFERS if differs else Outcome.MATCHED, differs)

    def _payout(self, line: StatementLine, record: StatementRecord, kind: str) -> StatementLine:
        payout = self.payouts.get(record.order_reference)
        if payout is None:
            return self._verdict(line, Outcome.MISSING_OURS, "no payout with this reference")
        line.payout = payout
        if kind == "feepayout":
            line.our_amount = payout.gateway_fee
            if payout.gateway_fee is None:
                return self._verdict(line, Outcome.AMOUNT_DIFFERS, "no ClickPesa fee recorded on our payout")
            differs = self._money_differs(record, payout.gateway_fee, payout.currency, "debit")
            return self._verdict(line, Outcome.AMOUNT_DIFFERS if differs else Outcome.MATCHED, differs)

        returned = kind in ("reversedpayout", "refundedpayout")
        # ClickPesa's payout amount includes its fee when the merchant bears it.
        with_fee = payout.amount + (payout.gateway_fee or 0)
        expected = with_fee if record.amount == with_fee else payout.amount
        line.our_amount = expected
        differs = self._money_differs(record, expected, payout.currency, "credit" if returned else "debit")
        if differs:
            return self._verdict(line, Outcome.AMOUNT_DIFFERS, differs)
        wanted = (Payout.Status.REFUNDED, Payout.Status.REVERSED) if returned else _PAYOUT_DEBITED
        if payout.status not in wanted:
            return self._verdict(line, Outcome.STATUS_DIFFERS, f"our payout is {payout.get_status_display()}")
        return self._verdict(line, Outcome.MATCHED, "")

    def _deposit(self, line: StatementLine, record: StatementRecord) -> StatementLine:
        deposit = self.deposits.get(record.order_reference) or self.deposits.get(record.id)
        if deposit is None:
            return self._verdict(line, Outcome.MISSING_OURS, "no deposit with this reference")
        line.deposit, line.our_amount = deposit, deposit.amount
        differs = self._money_differs(record, deposit.amount, deposit.currency, "credit")
        return self._verdict(line, Outcome.AMOUNT_DIFFERS if differs else Outcome.MATCHED, differs)

    def missing_theirs(self, period_start: date, period_end: date) -> list[StatementLine]:
        """Our money movements of the period, in the statement's currency, that it does not show."""
        in_statement = {key for (_, key) in self.seen}
        lines = []
        payments = Payment.objects.filter(
            status__in=_PAYMENT_CREDITED,
            currency=self.currency,
            completed_at__date__gte=period_start,
            completed_at__date__lte=period_end,
        ).exclude(reference__in=in_statement)
        for payment in payments.order_by("completed_at"):
            lines.append(
                self._ours(payment.reference, "Payment", payment.amount, payment.completed_at, payment=payment)
            )
        payouts = Payout.objects.filter(
            status__in=_PAYOUT_DEBITED,
            currency=self.currency,
            paid_at__date__gte=period_start,
            paid_at__date__lte=period_end,
        ).exclude(reference__in=in_statement)
        for p in payouts.order_by("paid_at"):
            lines.append(self._ours(p.reference, "Payout", p.amount, p.paid_at, payout=p))
        deposits = (
            Deposit.objects.filter(
                currency=self.currency, created_at__date__gte=period_start, created_at__date__lte=period_end
            )
            .exclude(reference__in=in_statement)
            .exclude(gateway_id__in=in_statement - {""})
        )
        for d in deposits.order_by("created_at"):
            lines.append(self._ours(d.reference, "Deposit", d.amount, d.created_at, deposit=d))
        return lines

    def _ours(
        self, reference: str, line_type: str, amount: Decimal, when: datetime | None, **record: object
    ) -> StatementLine:
        return StatementLine(
            order_reference=reference,
            line_type=line_type,
            occurred_at=when,
            currency=self.currency,
            our_amount=amount,
            outcome=Outcome.MISSING_THEIRS,
            detail=f"our {line_type.lower()} of {format_money(amount, self.currency)} is not in the statement",
            **record,
        )


def _check_amounts(records: Sequence[StatementRecord]) -> None:
    """Refuse the statement when an amount or balance is not money we can hold (1e20, 0.001)."""
    bad = [
        f"row {record.row_number or number}"
        for number, record in enumerate(records, start=1)
        if not fits_money_column(record.amount)
        or (record.balance is not None and not fits_money_column(record.balance))
    ]
    if bad:
        more = f" and {len(bad) - ERRORS_SHOWN} more" if len(bad) > ERRORS_SHOWN else ""
        raise StatementError(
            "The statement has amounts too large or with more than two decimals: "
            + ", ".join(bad[:ERRORS_SHOWN])
            + more
            + "."
        )


def _period(records: Iterable[StatementRecord]) -> tuple[date, date]:
    days = [timezone.localdate(r.date) for r in records if r.date is not None]
    if not days:
        raise StatementError("The statement has no dates; give the period it covers.")
    return min(days), max(days)


def statement_import(
    *,
    records: Sequence[StatementRecord],
    source: str,
    currency: str,
    by: User,
    period_start: date | None = None,
    period_end: date | None = None,
    filename: str = "",
) -> StatementImport:
    """Match a statement's rows and keep the import with one line per row, plus our unmatched records.

    The period (local dates, inclusive) defaults to the first and last date in the rows; it
    bounds the search for our records that the statement lacks. Payments the statement shows
    reversed or refunded that our books still hold as completed are then given back, each
    through the payment handler as the poller would (so a reversal seen by both is applied once).
    """
    statement, matcher = _import(
        records=records,
        source=source,
        currency=currency,
        by=by,
        period_start=period_start,
        period_end=period_end,
        filename=filename,
    )
    _apply_returns(matcher, by=by)
    return statement


def _apply_returns(matcher: _Matcher, *, by: User) -> None:
    """Apply each reversal the statement showed (stored as a ``PAYMENT REVERSED`` event) and say so on its line."""
    for line, payment, status in matcher.returned:
        charges = matcher.charges.get(payment.reference)
        fields: dict[str, object] = {
            "orderReference": payment.reference,
            "status": status,
            "collectedAmount": str(payment.amount),
            "collectedCurrency": payment.currency,
            "message": f"{line.line_type} in ClickPesa's statement (row {line.gateway_id or line.row_number})",
            **({"charges": str(charges)} if charges else {}),
        }
        result = ingest_answer(
            "payment",
            event_name=PAYMENT_REVERSED,
            data=parse_payment(fields),
            fields=fields,
            gateway_status=status,
            endpoint=WebhookEvent.Endpoint.PAYMENTS,
            by=by,
        )
        payment.refresh_from_db(fields=["status"])
        if payment.status == status:
            StatementLine.objects.filter(pk=line.pk).update(
                outcome=Outcome.MATCHED, detail=f"reversal applied from this statement: {result.detail}"[:500]
            )


@transaction.atomic
def _import(
    *,
    records: Sequence[StatementRecord],
    source: str,
    currency: str,
    by: User,
    period_start: date | None,
    period_end: date | None,
    filename: str,
) -> tuple[StatementImport, _Matcher]:
    _check_amounts(records)
    if period_start is None or period_end is None:
        first, last = _period(records)
        period_start, period_end = period_start or first, period_end or last
    if period_start > period_end:
        raise StatementError("The period starts after it ends.")
    digest = statement_digest(records, currency, period_start, period_end)
    earlier = StatementImport.objects.filter(digest=digest).select_related("imported_by").order_by("id").first()
    if earlier is not None:
        raise StatementAlreadyImported(earlier)
    matcher = _Matcher(records, currency)
    lines = [matcher.line(record) for record in records]
    lines += matcher.missing_theirs(period_start, period_end)
    statement = StatementImport.objects.create(
        source=source,
        filename=filename[:255],
        currency=currency,
        period_start=period_start,
        period_end=period_end,
        imported_by=by,
        row_count=len(records),
        digest=digest,
    )
    for line in lines:
        line.statement = statement
    StatementLine.objects.bulk_create(lines, batch_size=1000)
    # A payout the statement shows exactly as our books do is reconciled by this import.
    payouts_reconcile(
        [line.payout_id for line in lines if line.outcome == StatementLine.Outcome.MATCHED and line.payout_id], by=by
    )
    return statement, matcher


def statement_import_csv(
    data: bytes,
    *,
    by: User,
    currency: str,
    filename: str = "",
    period_start: date | None = None,
    period_end: date | None = None,
) -> StatementImport:
    """Import a dashboard CSV export; see `statement_rows_from_csv` and `statement_import`."""
    return statement_import(
        records=statement_rows_from_csv(data),
        source=StatementImport.Source.UPLOAD,
        currency=currency,
        by=by,
        period_start=period_start,
        period_end=period_end,
        filename=filename,
    )


def statement_fetch(*, currency: str, period_start: date, period_end: date, by: User) -> StatementImport:
    """Fetch the statement for a period from ClickPesa's API and import it.

    Raises clickpesa.client.ClickPesaError (a BlinnoError) when ClickPesa gives no usable answer.
    """
    with ClickPesaClient() as client:
        statement = client.statement(currency=currency, start_date=period_start, end_date=period_end)
    records = [
        StatementRecord(
            id=row.id[:64],
            order_reference=row.order_reference[:64],
            date=row.date,
            description=row.description[:500],
            entry=row.entry[:10],
            amount=abs(row.amount),
            currency=row.currency[:3],
            balance=row.balance,
            type=row.type[:40],
            row_number=number,
        )
        for number, row in enumerate(statement.rows, start=1)
    ]
    return statement_import(
        records=records,
        source=StatementImport.Source.API,
        currency=currency,
        by=by,
        period_start=period_start,
        period_end=period_end,
        filename=f"API {currency} {period_start:%Y-%m-%d} to {period_end:%Y-%m-%d}",
    )


def statement_summary(statement: StatementImport) -> str:
    """ "120 rows: 100 matched, 3 amount differs, ..." for messages."""
    counts = Counter(statement.lines.values_list("outcome", flat=True))
    parts = [f"{counts[o]} {o.label.lower()}" for o in Outcome if counts[o]]
    return f"{statement.row_count} rows read; " + (", ".join(parts) or "nothing to compare")


def poll_since(since: datetime) -> PollSummary:
    """Ask ClickPesa now about every payment still PENDING and every payout in flight created since ``since``.

    Each answer is applied as its webhook would be (stored as a poll event); no period applies.
    """
    with ClickPesaClient() as client:
        payments = poll_payments_since(since, client=client)
        payouts = poll_payouts_since(since, client=client)
    return PollSummary(payments.results + payouts.results)


# --- Finance's resolutions of a line that did not match -----------------------------------


def _settle(line: StatementLine, *, by: User, resolution: str) -> None:
    updated = StatementLine.objects.filter(pk=line.pk, resolved_at__isnull=True).update(
        resolved_at=timezone.now(), resolved_by=by, resolution=resolution[:500]
    )
    if not updated:
        raise StatementError(f"Line {line} was already resolved.", code="already_resolved")


@transaction.atomic
def statement_line_accept(line: StatementLine, *, by: User) -> str:
    """Accept ClickPesa's line as the record of our payout despite the difference: the line is
    resolved and the payout reconciled. No money moves (post an adjustment for a difference)."""
    if line.outcome == StatementLine.Outcome.MATCHED:
        raise StatementError("This line matched; nothing to accept.", code="matched")
    if line.payout_id is None:
        raise StatementError("This line names none of our payouts; resolve it with a note.", code="no_payout")
    reconciled = payouts_reconcile([line.payout_id], by=by)
    report = f"Line accepted as the record of payout {line.order_reference}" + (
        "; the payout is reconciled" if reconciled else "; the payout was already reconciled or is not final"
    )
    _settle(line, by=by, resolution=f"{report} (by {by})")
    return report + "."


def statement_line_resolve(line: StatementLine, *, by: User, note: str) -> str:
    """Close an unmatched line with finance's note (what was done, or why nothing needs doing)."""
    if not note.strip():
        raise StatementError("A note is required to resolve a line.", code="reason_required")
    _settle(line, by=by, resolution=f"{note.strip()} (by {by})")
    return f"Line resolved: {note.strip()}"
