"""Statement reconciliation moves to the backoffice app (it matches payments too, which revenue
must not import); its tables stay where they are. The three permissions that StatementImport
held for want of a better home move to the models they are about."""

from django.db import migrations

MOVED = {"post_adjustment": "ledgertransaction", "export_reports": "ledgertransaction", "cancel_payout": "payout"}


def move_permissions(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    old = ContentType.objects.filter(app_label="revenue", model="statementimport").first()
    if old is None:
        return
    for codename, model in MOVED.items():
        new, _ = ContentType.objects.get_or_create(app_label="revenue", model=model)
        Permission.objects.filter(content_type=old, codename=codename).update(content_type=new)


def restore_permissions(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    old, _ = ContentType.objects.get_or_create(app_label="revenue", model="statementimport")
    for codename, model in MOVED.items():
        Permission.objects.filter(content_type__app_label="revenue", content_type__model=model, codename=codename).update(
            content_type=old
        )


class Migration(migrations.Migration):
    dependencies = [
        # The staff groups are built from the permissions where they stood before this move.
        ("accounts", "0002_staff_groups"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("revenue", "0007_fewer_indexes"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="payout",
            options={
                "permissions": [
                    ("reconcile_payout", "Can mark payouts reconciled"),
                    ("retry_payout", "Can retry failed payouts"),
                    ("requery_payout", "Can re-query ClickPesa for a payout"),
                    ("cancel_payout", "Can cancel payouts not yet submitted"),
                ]
            },
        ),
        migrations.AlterModelOptions(
            name="ledgertransaction",
            options={
                "permissions": [
                    ("post_adjustment", "Can post manual ledger adjustments"),
                    ("export_reports", "Can export payouts, fees and ledger entries"),
                ]
            },
        ),
        migrations.RunPython(move_permissions, restore_permissions),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="StatementLine"),
                migrations.DeleteModel(name="StatementImport"),
            ],
            database_operations=[],
        ),
    ]
