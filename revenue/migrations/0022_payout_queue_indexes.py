"""Indexes for the home page's payout queues: returned and not retried, waiting too long (index-only
counts of the rows in those states). Built concurrently on a live table."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("revenue", "0021_ledger_account_days"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="payout",
            index=models.Index(
                condition=models.Q(status__in=["FAILED", "REFUNDED", "REVERSED"]), fields=["id"], name="payout_returned"
            ),
        ),
        AddIndexConcurrently(
            model_name="payout",
            index=models.Index(
                condition=models.Q(status__in=["PENDING", "PROCESSING"]),
                fields=["created_at"],
                include=("submitted_at",),
                name="payout_in_flight",
            ),
        ),
    ]
