"""The staff groups of the back-office, with least privilege (docs/architecture.md, "Staff").

Finance sees everything about money, reconciles, adjusts, imports statements and exports.
Support sees payouts, payments, webhook events and notifications; retries and re-queries
payouts, replays events and resends notifications. Neither may change or delete a money row:
those admins refuse it whatever the permission, and no change/delete permission is granted.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations
from django.db.models import Q

COMMON = [
    "accounts.view_user",
    "payments.view_order",
    "payments.view_orderline",
    "payments.view_payment",
    "payments.view_booking",
    "payments.view_subscription",
    "revenue.view_payout",
    "revenue.view_payoutmethod",
    "revenue.view_payoutstatuschange",
    "revenue.cancel_payout",
    "clickpesa.view_webhookevent",
]

FINANCE = [
    *COMMON,
    "revenue.view_platformfee",
    "revenue.view_ledgeraccount",
    "revenue.view_ledgertransaction",
    "revenue.view_ledgerentry",
    "revenue.view_deposit",
    "revenue.view_ledgerauditrun",
    "revenue.add_ledgerauditrun",
    "revenue.view_statementimport",
    "revenue.view_statementline",
    "revenue.reconcile_payout",
    "revenue.post_adjustment",
    "revenue.import_statement",
    "revenue.export_reports",
]

SUPPORT = [
    *COMMON,
    "revenue.retry_payout",
    "revenue.requery_payout",
    "clickpesa.replay_webhookevent",
    "notifications.view_notification",
    "notifications.resend_notification",
]

GROUPS = {"Finance": FINANCE, "Support": SUPPORT}


def create_groups(apps, schema_editor):
    # Permissions are normally created after the last migration (post_migrate); the groups
    # need them now, so create them from the models as they stand at this migration.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, wanted in GROUPS.items():
        query = Q()
        for dotted in wanted:
            app_label, codename = dotted.split(".")
            query |= Q(content_type__app_label=app_label, codename=codename)
        permissions = list(Permission.objects.filter(query).select_related("content_type"))
        found = {f"{p.content_type.app_label}.{p.codename}" for p in permissions}
        missing = sorted(set(wanted) - found)
        if missing:
            raise RuntimeError(f"Group {name}: permissions not found: {missing}")
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions)


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("payments", "0001_initial"),
        ("revenue", "0003_statement_imports"),
        ("clickpesa", "0001_initial"),
        ("notifications", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
