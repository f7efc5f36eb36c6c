"""`manage.py audit_ledger`: recompute every balance from the journal; exit 1 on any difference."""

from django.core.management.base import BaseCommand

from revenue.ledger import ledger_audit


class Command(BaseCommand):
    help = "Recompute every cached balance from its entries and check every transaction balances."

    def handle(self, *args: object, **options: object) -> None:
        run = ledger_audit()
        self.stdout.write(
            f"Checked {run.accounts_checked} accounts and {run.transactions_checked} transactions "
            f"in {run.duration_seconds:.2f}s."
        )
        if run.ok:
            self.stdout.write(self.style.SUCCESS("Ledger clean: every balance equals the sum of its entries."))
            return
        for difference in run.differences:
            self.stderr.write(" · ".join(f"{k}={v}" for k, v in difference.items()))
        self.stderr.write(self.style.ERROR(f"{len(run.differences)} difference(s) found."))
        raise SystemExit(1)
