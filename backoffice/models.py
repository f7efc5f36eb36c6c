"""Reconciliation's records: a ClickPesa account statement and each line's verdict against our books."""

from django.conf import settings
from django.db import models

from core.money import Currency, money_field


class StatementImport(models.Model):
    """One ClickPesa account statement brought in for reconciliation; its lines keep the verdicts."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Uploaded CSV"
        API = "api", "Fetched from ClickPesa"

    source = models.CharField(max_length=10, choices=Source.choices)
    filename = models.CharField(max_length=255, blank=True)
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.TZS)
    period_start = models.DateField(help_text="First day covered (Africa/Dar_es_Salaam)")
    period_end = models.DateField(help_text="Last day covered, inclusive")
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    row_count = models.PositiveIntegerField(default=0, help_text="Rows read from the statement")
    digest = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the rows: the same statement is imported once"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "revenue_statementimport"  # created by revenue before this app took it over
        ordering = ["-created_at"]
        permissions = [("import_statement", "Can import ClickPesa statements")]
        constraints = [
            models.UniqueConstraint(fields=["digest"], condition=~models.Q(digest=""), name="one_import_per_statement")
        ]

    def __str__(self) -> str:
        return f"Statement #{self.pk} · {self.currency} {self.period_start:%Y-%m-%d} to {self.period_end:%Y-%m-%d}"


class StatementLine(models.Model):
    """A statement row and what it matched on our side, or one of our records the statement lacks."""

    class Outcome(models.TextChoices):
        MATCHED = "MATCHED", "Matched"
        AMOUNT_DIFFERS = "AMOUNT_DIFFERS", "Amount differs"
        STATUS_DIFFERS = "STATUS_DIFFERS", "Status differs"
        MISSING_OURS = "MISSING_OURS", "Missing on our side"
        MISSING_THEIRS = "MISSING_THEIRS", "Missing on ClickPesa's side"

    statement = models.ForeignKey(StatementImport, on_delete=models.PROTECT, related_name="lines")
    row_number = models.PositiveIntegerField(null=True, blank=True, help_text="Empty for our records it lacks")
    gateway_id = models.CharField(max_length=64, blank=True, help_text="The statement row's id")
    order_reference = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    description = models.CharField(max_length=500, blank=True)
    entry = models.CharField(max_length=10, blank=True, help_text="Credit or Debit")
    line_type = models.CharField(max_length=40, blank=True, help_text="Payment, Payout, Fee - Payout, Deposit, ...")
    amount = money_field(null=True, blank=True, help_text="What ClickPesa shows")
    currency = models.CharField(max_length=3, blank=True)
    running_balance = money_field(null=True, blank=True)
    our_amount = money_field(null=True, blank=True, help_text="What our record says")
    payment = models.ForeignKey("payments.Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    payout = models.ForeignKey("revenue.Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    deposit = models.ForeignKey("revenue.Deposit", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.CharField(max_length=500, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True, help_text="When finance settled this line")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution = models.CharField(max_length=500, blank=True, help_text="How the line was settled, in a sentence")

    class Meta:
        db_table = "revenue_statementline"  # created by revenue before this app took it over
        ordering = ["statement", "row_number", "id"]
        indexes = [
            models.Index(fields=["statement", "outcome"], name="revenue_sta_stateme_779c21_idx"),
            # Finance's queue: the lines that did not match and nobody settled yet.
            models.Index(
                fields=["id"],
                condition=~models.Q(outcome="MATCHED") & models.Q(resolved_at__isnull=True),
                name="statement_line_unresolved",
            ),
        ]

    def __str__(self) -> str:
        where = f"row {self.row_number}" if self.row_number else "our record"
        return f"{where} · {self.order_reference or self.gateway_id or '—'} · {self.get_outcome_display()}"


class DayVolume(models.Model):
    """One ended day's total of one of the home page's volumes (payments collected, payouts paid, fees).

    The home page reads the ended days of its 30-day chart from here and sums only today from the
    tables; ``backoffice.home.volumes_refresh`` rewrites the 30 days every hour (Celery beat), so a
    later change to an old row (a fee refunded) reaches the chart within the hour.
    """

    class Metric(models.TextChoices):
        PAYMENTS = "payments", "Payments collected"
        PAYOUTS = "payouts", "Payouts paid"
        FEES = "fees", "Platform fees earned"

    metric = models.CharField(max_length=10, choices=Metric.choices)
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.TZS)
    day = models.DateField(help_text="Africa/Dar_es_Salaam")
    amount = money_field()
    count = models.PositiveIntegerField()
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["metric", "currency", "day"], name="one_volume_per_metric_currency_day")
        ]

    def __str__(self) -> str:
        return f"{self.get_metric_display()} · {self.day} · {self.amount} {self.currency}"
