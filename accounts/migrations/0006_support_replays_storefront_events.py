"""Support sees storefront events and their attempts and may replay them; Finance sees them."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Support": ["view_storefrontevent", "view_storefrontdelivery", "replay_storefrontevent"],
    "Finance": ["view_storefrontevent", "view_storefrontdelivery"],
}


def grant(apps, schema_editor):
    # As 0002: the permissions are created after the last migration unless created here.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        permissions = Permission.objects.filter(content_type__app_label="notifications", codename__in=codenames)
        for group in Group.objects.filter(name=name):
            group.permissions.add(*permissions)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GRANTS.items():
        permissions = Permission.objects.filter(content_type__app_label="notifications", codename__in=codenames)
        for group in Group.objects.filter(name=name):
            group.permissions.remove(*permissions)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_staff_request_payouts"),
        ("notifications", "0004_storefront_events"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
