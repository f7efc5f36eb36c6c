"""`manage.py ledger_close_days`: close the platform accounts' ended days (as beat does hourly)."""

from datetime import date

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from revenue.ledger import ledger_close_days, ledger_reopen_days


class Command(BaseCommand):
    help = (
        "Store each platform account's closing balance for every ended day not yet closed. With --reopen-from, "
        "first forget the closed days from that day on (after the audit reported a closed day differing from "
        "the journal), then close them again from the journal."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reopen-from", type=date.fromisoformat, metavar="YYYY-MM-DD")

    def handle(self, *args: object, reopen_from: date | None = None, **options: object) -> None:
        with transaction.atomic():
            if reopen_from is not None:
                reopened = ledger_reopen_days(since=reopen_from)
                self.stdout.write(f"Reopened {reopened} closed day(s) from {reopen_from} on.")
            written = ledger_close_days()
        self.stdout.write(self.style.SUCCESS(f"Closed {written} account day(s)."))
