"""Finance may open a payout's full account number (each look is logged); Support sees it masked."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

PERMISSION = ("revenue", "view_account_number")


def grant(apps, schema_editor):
    # As 0002: the permission is created after the last migration unless created here.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label=PERMISSION[0], codename=PERMISSION[1])
    Group.objects.get(name="Finance").permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.filter(content_type__app_label=PERMISSION[0], codename=PERMISSION[1]).first()
    if permission is not None:
        Group.objects.get(name="Finance").permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_staff_groups"),
        ("revenue", "0010_payout_view_account_number_permission"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
