"""Least privilege, checked through the admin's HTTP interface with the real groups' permissions."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from clickpesa.models import WebhookEvent
from revenue.models import LedgerEntry, LedgerTransaction, Payout, PlatformFee
from tests.staff import paid_payout, returned_payout
from tests.webhooks import post_webhook, sample_body, use_checksum_key

PAYOUTS = reverse("admin:revenue_payout_changelist")


def perms(group: str) -> set[str]:
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Group.objects.get(name=group).permissions.select_related("content_type")
    }


@pytest.mark.django_db
def test_the_migration_gives_finance_reconcile_adjust_import_and_export_but_no_replay():
    granted = perms("Finance")
    assert {
        "revenue.reconcile_payout",
        "revenue.post_adjustment",
        "backoffice.import_statement",
        "revenue.export_reports",
    } <= granted
    assert not {"clickpesa.replay_webhookevent", "revenue.retry_payout", "notifications.resend_notification"} & granted


@pytest.mark.django_db
def test_the_migration_gives_support_retry_requery_replay_and_resend_but_no_money_powers():
    granted = perms("Support")
    assert {
        "revenue.retry_payout",
        "revenue.requery_payout",
        "clickpesa.replay_webhookevent",
        "notifications.resend_notification",
    } <= granted
    assert not {"revenue.reconcile_payout", "revenue.post_adjustment", "revenue.export_reports"} & granted


@pytest.mark.django_db
@pytest.mark.parametrize("group", ["Finance", "Support"])
def test_no_group_may_change_or_delete_anything(group):
    assert not [p for p in perms(group) if p.split(".")[1].startswith(("change_", "delete_"))]


@pytest.mark.django_db
def test_support_cannot_mark_a_payout_reconciled(support):
    payout = paid_payout()
    support.action(PAYOUTS, "mark_reconciled", [payout])
    payout.refresh_from_db()
    assert payout.reconciled_at is None


@pytest.mark.django_db
def test_support_cannot_open_the_adjustment_form(support):
    assert support.get(reverse("admin:revenue_ledgertransaction_adjust")).status_code == 403


@pytest.mark.django_db
def test_support_cannot_post_an_adjustment(support):
    paid_payout()
    before = LedgerTransaction.objects.count()
    response = support.post(
        reverse("admin:revenue_ledgertransaction_adjust"),
        {"amount": "100.00", "reason": "try", "token": "4b4f4b1e-6f7a-4f51-9a43-6d1f0e0c2a11"},
    )
    assert response.status_code == 403
    assert LedgerTransaction.objects.count() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url_name",
    [
        "admin:revenue_platformfee_changelist",
        "admin:revenue_ledgerentry_changelist",
        "admin:revenue_ledger",
        "admin:backoffice_statementimport_upload",
        "admin:revenue_payout_export",
    ],
)
def test_support_cannot_see_fees_journal_statements_or_exports(support, url_name):
    assert support.get(reverse(url_name)).status_code == 403


@pytest.mark.django_db
def test_support_cannot_run_the_ledger_audit(support):
    assert support.post(reverse("admin:revenue_ledger_audit")).status_code == 403


@pytest.mark.django_db
def test_finance_cannot_replay_an_event(finance, client, settings):
    use_checksum_key(settings)
    post_webhook(client, sample_body("payment_received", reference="BLNNOBODY0001"))
    event = WebhookEvent.objects.get(order_reference="BLNNOBODY0001")
    assert event.status == WebhookEvent.Status.UNMATCHED
    finance.action(reverse("admin:clickpesa_webhookevent_changelist"), "replay_events", [event])
    event.refresh_from_db()
    assert event.attempts == 1


@pytest.mark.django_db
def test_finance_cannot_retry_a_payout(finance):
    payout = returned_payout()
    finance.action(PAYOUTS, "retry_payouts", [payout], apply="1")
    assert not Payout.objects.filter(retry_of=payout).exists()


@pytest.mark.django_db
def test_finance_cannot_open_the_notifications(finance):
    assert finance.get(reverse("admin:notifications_notification_changelist")).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model",
    [Payout, PlatformFee, LedgerEntry, LedgerTransaction, WebhookEvent],
    ids=lambda m: m.__name__,
)
def test_not_even_a_superuser_may_edit_or_delete_money_rows(root, model, client, settings):
    paid_payout()
    use_checksum_key(settings)
    post_webhook(client, sample_body("payment_received", reference="BLNNOBODY0002"))
    obj = model.objects.first()
    info = (model._meta.app_label, model._meta.model_name)
    change = reverse("admin:{}_{}_change".format(*info), args=[obj.pk])
    delete = reverse("admin:{}_{}_delete".format(*info), args=[obj.pk])
    assert root.get(change).status_code == 200  # viewing is fine
    assert root.post(change, {"amount": "1.00", "status": "PAID"}).status_code == 403
    assert root.post(delete, {"post": "yes"}).status_code == 403
    assert root.get(reverse("admin:{}_{}_add".format(*info))).status_code == 403
    assert model.objects.filter(pk=obj.pk).exists()


@pytest.mark.django_db
def test_a_superuser_post_cannot_change_a_payout_amount(root):
    payout = paid_payout()
    root.post(reverse("admin:revenue_payout_change", args=[payout.pk]), {"amount": "1.00"})
    payout.refresh_from_db()
    assert payout.amount == Decimal("46000.00")


@pytest.mark.django_db
def test_the_delete_action_is_offered_nowhere_on_money(root):
    paid_payout()
    for url_name in ("admin:revenue_payout_changelist", "admin:revenue_ledgerentry_changelist"):
        assert b'value="delete_selected"' not in root.get(reverse(url_name)).content
