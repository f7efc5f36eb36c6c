"""Payments indexed by (status, completion time): the home page's daily volumes of collected money.

Built concurrently so a live payments table keeps taking webhooks.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("payments", "0005_reversals_and_rechecks"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="payment",
            index=models.Index(fields=["status", "completed_at"], name="payment_completed"),
        ),
    ]
