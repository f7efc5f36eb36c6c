"""Four eyes: Finance decides approvals (revenue.decide_approval); Support sees them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Finance": [("revenue", "decide_approval"), ("revenue", "view_approval")],
    "Support": [("revenue", "view_approval")],
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
        ("accounts", "0006_support_replays_storefront_events"),
        ("revenue", "0014_approval"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
