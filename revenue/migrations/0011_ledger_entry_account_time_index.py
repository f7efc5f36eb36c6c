"""Entries indexed by (account, posted time): any account's balance as of any moment in one index-only scan.

The new index replaces ``ledger_entry_account_sum`` (account alone), which it serves too; both
are built and dropped concurrently so a live journal keeps taking postings.
"""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("revenue", "0010_payout_view_account_number_permission"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="ledgerentry",
            index=models.Index(
                fields=["account", "created_at"], include=("direction", "amount"), name="ledger_entry_account_time"
            ),
        ),
        RemoveIndexConcurrently(model_name="ledgerentry", name="ledger_entry_account_sum"),
    ]
