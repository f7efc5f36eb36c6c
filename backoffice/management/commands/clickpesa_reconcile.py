"""`manage.py clickpesa_reconcile --since 2026-01-01`: ask ClickPesa about everything not final since a date."""

from datetime import date, datetime, time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from backoffice.reconciliation import poll_since


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--since must be a date like 2026-01-01, not {text!r}") from None


class Command(BaseCommand):
    help = (
        "Ask ClickPesa about every payment still PENDING and every payout in flight created since a date "
        "(Africa/Dar_es_Salaam), and apply each answer as its webhook would be (stored as a poll event)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", type=_date, required=True, help="first day to look at, YYYY-MM-DD")

    def handle(self, *args: object, since: date, **options: object) -> None:
        start = timezone.make_aware(datetime.combine(since, time.min))
        summary = poll_since(start)
        for result in summary.results:
            line = f"{result.kind:<7} {result.reference:<20} {result.outcome:<10} {result.detail}"
            self.stdout.write(self.style.ERROR(line) if result.error else line)
        counts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(summary.counts.items())) or "nothing"
        self.stdout.write(f"Asked ClickPesa about {len(summary.results)} since {since:%Y-%m-%d}: {counts}.")
        if summary.errors:
            raise CommandError(f"{len(summary.errors)} quer{'y' if len(summary.errors) == 1 else 'ies'} failed.")
