"""Support and Finance may request a payout on a creator's behalf (the admin's "Request payout")."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSION = ("revenue", "request_payout")
GROUPS = ("Finance", "Support")


def grant(apps, schema_editor):
    # As 0002: the permission is created after the last migration unless created here.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label=PERMISSION[0], codename=PERMISSION[1])
    for group in Group.objects.filter(name__in=GROUPS):
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(content_type__app_label=PERMISSION[0], codename=PERMISSION[1]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_user_external_id"),
        ("revenue", "0012_payout_request_permission"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
