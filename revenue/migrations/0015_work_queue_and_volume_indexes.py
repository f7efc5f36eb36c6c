"""Indexes for the staff home page: payouts waiting for review (a handful among millions) and fee
rows by collection time (daily fee volumes). Built concurrently on live tables."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("revenue", "0014_approval"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="payout",
            index=models.Index(condition=models.Q(needs_review=True), fields=["id"], name="payout_needs_review"),
        ),
        AddIndexConcurrently(
            model_name="platformfee",
            index=models.Index(
                condition=models.Q(collected_at__isnull=False), fields=["collected_at"], name="fee_collected"
            ),
        ),
    ]
