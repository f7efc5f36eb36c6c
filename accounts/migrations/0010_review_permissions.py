"""Resolving what waits for review: Finance captures or dismisses payments; Finance and Support clear payouts."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Finance": [("payments", "review_payment"), ("revenue", "review_payout")],
    "Support": [("revenue", "review_payout")],
}


def _permission(apps, app_label, codename):
    Permission = apps.get_model("auth", "Permission")
    return Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()


def grant(apps, schema_editor):
    # As 0002: the permissions are created after the last migration unless created here.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for group, permissions in GRANTS.items():
        Group.objects.get(name=group).permissions.add(*(_permission(apps, *p) for p in permissions))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group, permissions in GRANTS.items():
        found = [p for p in (_permission(apps, *p) for p in permissions) if p is not None]
        Group.objects.get(name=group).permissions.remove(*found)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_refund_permissions"),
        ("payments", "0008_payment_review_permission"),
        ("revenue", "0018_collection_write_offs_and_review_permission"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
