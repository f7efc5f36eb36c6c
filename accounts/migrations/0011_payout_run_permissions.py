"""Payout runs: Finance and Support propose runs, drop lines and ask for approval (Finance decides: 0007)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Finance": [
        ("revenue", "manage_payout_run"),
        ("revenue", "view_payoutrun"),
        ("revenue", "view_payoutrunline"),
    ],
    "Support": [
        ("revenue", "manage_payout_run"),
        ("revenue", "view_payoutrun"),
        ("revenue", "view_payoutrunline"),
    ],
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
        ("accounts", "0010_review_permissions"),
        ("revenue", "0020_payout_runs"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
