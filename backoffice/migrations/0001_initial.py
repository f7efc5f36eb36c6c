"""The statement tables revenue created, taken over as they are (no database change)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def rename_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="revenue", model__in=["statementimport", "statementline"]).update(
        app_label="backoffice"
    )


def restore_content_types(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="backoffice", model__in=["statementimport", "statementline"]).update(
        app_label="revenue"
    )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("payments", "0002_payment_push_error_and_poll_time"),
        ("revenue", "0008_statements_move_to_backoffice"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="StatementImport",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("source", models.CharField(choices=[("upload", "Uploaded CSV"), ("api", "Fetched from ClickPesa")], max_length=10)),
                        ("filename", models.CharField(blank=True, max_length=255)),
                        ("currency", models.CharField(choices=[("TZS", "Tanzanian shilling"), ("USD", "US dollar")], default="TZS", max_length=3)),
                        ("period_start", models.DateField(help_text="First day covered (Africa/Dar_es_Salaam)")),
                        ("period_end", models.DateField(help_text="Last day covered, inclusive")),
                        ("row_count", models.PositiveIntegerField(default=0, help_text="Rows read from the statement")),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("imported_by", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        "db_table": "revenue_statementimport",
                        "ordering": ["-created_at"],
                        "permissions": [("import_statement", "Can import ClickPesa statements")],
                    },
                ),
                migrations.CreateModel(
                    name="StatementLine",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("row_number", models.PositiveIntegerField(blank=True, help_text="Empty for our records it lacks", null=True)),
                        ("gateway_id", models.CharField(blank=True, help_text="The statement row's id", max_length=64)),
                        ("order_reference", models.CharField(blank=True, max_length=64)),
                        ("occurred_at", models.DateTimeField(blank=True, null=True)),
                        ("description", models.CharField(blank=True, max_length=500)),
                        ("entry", models.CharField(blank=True, help_text="Credit or Debit", max_length=10)),
                        ("line_type", models.CharField(blank=True, help_text="Payment, Payout, Fee - Payout, Deposit, ...", max_length=40)),
                        ("amount", models.DecimalField(blank=True, decimal_places=2, help_text="What ClickPesa shows", max_digits=14, null=True)),
                        ("currency", models.CharField(blank=True, max_length=3)),
                        ("running_balance", models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True)),
                        ("our_amount", models.DecimalField(blank=True, decimal_places=2, help_text="What our record says", max_digits=14, null=True)),
                        ("outcome", models.CharField(choices=[("MATCHED", "Matched"), ("AMOUNT_DIFFERS", "Amount differs"), ("STATUS_DIFFERS", "Status differs"), ("MISSING_OURS", "Missing on our side"), ("MISSING_THEIRS", "Missing on ClickPesa's side")], max_length=16)),
                        ("detail", models.CharField(blank=True, max_length=500)),
                        ("deposit", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="revenue.deposit")),
                        ("payment", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="payments.payment")),
                        ("payout", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="revenue.payout")),
                        ("statement", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="lines", to="backoffice.statementimport")),
                    ],
                    options={
                        "db_table": "revenue_statementline",
                        "ordering": ["statement", "row_number", "id"],
                        "indexes": [models.Index(fields=["statement", "outcome"], name="revenue_sta_stateme_779c21_idx")],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(rename_content_types, restore_content_types),
    ]
