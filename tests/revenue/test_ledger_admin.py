"""Who may see and do what in the revenue back-office: the ledger page, the adjustment form, the
payout page's buttons and the exports, for Finance, Support and a superuser (real groups, real CSRF)."""

import uuid
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from clickpesa.payloads import GatewayStatus
from revenue.admin.exports import PayoutResource
from revenue.ledger import account_book
from revenue.models import LedgerAccount, LedgerAuditRun, LedgerTransaction, Payout
from revenue.services import creator_balance, payout_apply_gateway_status, payout_reconcile
from revenue.submission import payout_claim
from tests.factories import CreatorFactory, PayoutFactory, earn
from tests.staff import messages_of, paid_payout, returned_payout

LEDGER = reverse("admin:revenue_ledger")
AUDIT = reverse("admin:revenue_ledger_audit")
ADJUST = reverse("admin:revenue_ledgertransaction_adjust")
TRANSACTIONS = reverse("admin:revenue_ledgertransaction_changelist")
PAYOUTS = reverse("admin:revenue_payout_changelist")
Kind = LedgerAccount.Kind


def adjustments() -> int:
    return LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.ADJUSTMENT).count()


def adjustment(debit: LedgerAccount, credit: LedgerAccount, amount: str = "100.00", reason: str = "Goodwill") -> dict:
    return {
        "debit_account": debit.pk,
        "credit_account": credit.pk,
        "amount": amount,
        "reason": reason,
        "token": str(uuid.uuid4()),
    }


def available(creator, currency: str = "TZS") -> LedgerAccount:
    return account_book(currency, creator_ids=[creator.pk]).creator(creator.pk, Kind.CREATOR_AVAILABLE)


def platform(kind: str, currency: str = "TZS") -> LedgerAccount:
    return account_book(currency, platform_kinds=[kind]).platform(kind)


def page(client, payout: Payout) -> str:
    response = client.get(reverse("admin:revenue_payout_change", args=[payout.pk]))
    assert response.status_code == 200
    return response.content.decode()


def retry_link(payout: Payout) -> str:
    return reverse("admin:revenue_payout_retry", args=[payout.pk])


def cancel_link(payout: Payout) -> str:
    return reverse("admin:revenue_payout_cancel", args=[payout.pk])


RECONCILE_BUTTON = 'value="mark_reconciled"'


# --- The ledger page and the audit ------------------------------------------------------------


@pytest.mark.django_db
def test_support_may_not_open_the_ledger_or_run_the_audit(support):
    earn(CreatorFactory())
    assert support.get(LEDGER).status_code == 403
    assert support.post(AUDIT).status_code == 403
    assert not LedgerAuditRun.objects.exists()


@pytest.mark.django_db
def test_finance_and_a_superuser_are_offered_the_audit_and_the_adjustment_form(finance, root):
    for staff in (finance, root):
        response = staff.get(LEDGER)
        content = response.content.decode()
        assert (response.context["can_run_audit"], response.context["can_adjust"]) == (True, True)
        assert f'action="{AUDIT}"' in content
        assert f'href="{ADJUST}"' in content


@pytest.mark.django_db
def test_the_ledger_shows_a_trial_balance_per_currency(finance):
    earn(CreatorFactory(), Decimal("10000.00"))
    earn(CreatorFactory(), Decimal("10.00"), currency="USD")  # 10 + 0.25 + 0.30
    rows = finance.get(LEDGER).context["trial_rows"]
    assert rows == [
        {"currency": "TZS", "debit": Decimal("11000.00"), "credit": Decimal("11000.00"), "balanced": True},
        {"currency": "USD", "debit": Decimal("10.55"), "credit": Decimal("10.55"), "balanced": True},
    ]


@pytest.mark.django_db
def test_a_cached_balance_that_drifted_shows_out_of_balance_and_the_audit_reports_it(finance):
    creator = CreatorFactory()
    earn(creator, Decimal("10000.00"))
    LedgerAccount.objects.filter(pk=available(creator).pk).update(balance=Decimal("9300.00"))

    ledger = finance.get(LEDGER)
    assert ledger.context["trial_rows"][0]["balanced"] is False
    assert "out of balance" in ledger.content.decode()

    response = finance.post(AUDIT, follow=True)
    run = LedgerAuditRun.objects.get()
    assert run.ok is False
    assert messages_of(response)[0].startswith("Ledger audit: 1 difference(s) found;")
    content = response.content.decode()
    assert "1 difference</strong>" in content
    assert reverse("admin:revenue_ledgerauditrun_change", args=[run.pk]) in content


# --- The adjustment form ----------------------------------------------------------------------


@pytest.mark.django_db
def test_support_may_not_open_or_post_the_adjustment_form(support):
    creator = CreatorFactory()
    earn(creator)
    assert support.get(ADJUST).status_code == 403
    response = support.post(ADJUST, adjustment(platform(Kind.PLATFORM_FEES), available(creator)))
    assert response.status_code == 403
    assert adjustments() == 0
    assert creator_balance(creator).available == Decimal("9200.00")


@pytest.mark.django_db
def test_support_may_not_list_ledger_transactions(support):
    earn(CreatorFactory())
    assert support.get(TRANSACTIONS).status_code == 403


@pytest.mark.django_db
def test_finance_is_offered_the_adjustment_form_on_the_transactions_list(finance):
    assert f'href="{ADJUST}"' in finance.get(TRANSACTIONS).content.decode()


@pytest.mark.django_db
def test_an_adjustment_between_two_currencies_is_refused_by_the_form(finance):
    creator = CreatorFactory()
    earn(creator)
    response = finance.post(ADJUST, adjustment(platform(Kind.SUSPENSE, "USD"), available(creator)))
    assert response.status_code == 200
    assert "Both accounts of an adjustment must be in the same currency." in response.content.decode()
    assert adjustments() == 0


@pytest.mark.parametrize("amount", ["0.00", "-5.00", "1.005"])
@pytest.mark.django_db
def test_an_adjustment_needs_a_positive_amount_in_cents(finance, amount):
    creator = CreatorFactory()
    earn(creator)
    response = finance.post(ADJUST, adjustment(platform(Kind.PLATFORM_FEES), available(creator), amount=amount))
    assert response.status_code == 200
    assert response.context["form"].errors["amount"]
    assert adjustments() == 0


@pytest.mark.django_db
def test_an_adjustment_with_a_missing_reason_field_is_refused(finance):
    creator = CreatorFactory()
    earn(creator)
    data = adjustment(platform(Kind.PLATFORM_FEES), available(creator))
    del data["reason"]
    response = finance.post(ADJUST, data)
    assert response.context["form"].errors["reason"] == ["This field is required."]
    assert adjustments() == 0


@pytest.mark.django_db
def test_a_superuser_posts_an_adjustment_and_it_names_them(root, superuser):
    creator = CreatorFactory()
    earn(creator)
    root.post(ADJUST, adjustment(platform(Kind.SUSPENSE), available(creator), "50.00", "Rounding correction"))
    txn = LedgerTransaction.objects.get(kind=LedgerTransaction.Kind.ADJUSTMENT)
    assert txn.posted_by == superuser
    assert txn.memo == f"Rounding correction (by {superuser})"
    assert creator_balance(creator).available == Decimal("9250.00")


# --- The payout page's buttons ----------------------------------------------------------------


@pytest.mark.django_db
def test_cancel_is_offered_to_support_and_finance_for_a_payout_not_yet_submitted(support, finance):
    payout = PayoutFactory(submitted=False)
    for staff in (support, finance):
        assert cancel_link(payout) in page(staff, payout)


@pytest.mark.django_db
def test_cancel_is_no_longer_offered_once_a_submission_was_attempted(support):
    payout = PayoutFactory(submitted=False)
    assert payout_claim(payout.pk) == 0  # a submission attempt has started: ClickPesa may hold it
    assert cancel_link(payout) not in page(support, payout)


@pytest.mark.django_db
def test_cancel_is_not_offered_once_clickpesa_has_the_payout(support):
    payout = PayoutFactory()
    payout_apply_gateway_status(payout, GatewayStatus.PROCESSING, source="webhook")
    assert cancel_link(payout) not in page(support, payout)


@pytest.mark.django_db
def test_retry_is_offered_to_support_only(support, finance):
    payout = returned_payout()
    assert retry_link(payout) in page(support, payout)
    assert retry_link(payout) not in page(finance, payout)


@pytest.mark.django_db
def test_retry_is_not_offered_for_a_payout_that_did_not_come_back(support):
    for payout in (PayoutFactory(), paid_payout()):
        assert retry_link(payout) not in page(support, payout)


@pytest.mark.django_db
def test_finance_may_not_open_the_retry_page(finance):
    payout = returned_payout()
    assert finance.get(retry_link(payout)).status_code == 403
    assert not Payout.objects.filter(retry_of=payout).exists()


@pytest.mark.django_db
def test_support_opens_the_cancel_page_which_asks_why(support):
    payout = PayoutFactory()
    response = support.get(cancel_link(payout))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="reason"' in content and f'value="{payout.pk}"' in content
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PENDING


@pytest.mark.django_db
def test_reconcile_is_offered_to_finance_not_support(finance, support):
    payout = paid_payout()
    assert RECONCILE_BUTTON in page(finance, payout)
    assert RECONCILE_BUTTON not in page(support, payout)


@pytest.mark.django_db
def test_reconcile_is_not_offered_again_once_reconciled(finance, finance_user):
    payout = paid_payout()
    payout_reconcile(payout, by=finance_user)
    assert RECONCILE_BUTTON not in page(finance, payout)


@pytest.mark.django_db
def test_support_cannot_reconcile_through_the_action(support):
    payout = paid_payout()
    support.action(PAYOUTS, "mark_reconciled", [payout])
    payout.refresh_from_db()
    assert payout.reconciled_at is None


@pytest.mark.django_db
def test_the_payout_page_shows_the_creators_balance_now(finance):
    payout = returned_payout()
    content = page(finance, payout)
    assert (
        'Available <span class="money">TZS 46,000.00</span> · in flight <span class="money">TZS 0.00</span>'
        ' · pending <span class="money">TZS 0.00</span>'
    ) in content


# --- Exports ----------------------------------------------------------------------------------


def export(client, query: str = ""):
    prefix = PayoutResource.__name__.lower()
    fields = {f"{prefix}_{name}": "on" for name in PayoutResource().get_export_order()}
    return client.post(reverse("admin:revenue_payout_export") + query, {"format": "0", "resource": "0", **fields})


@pytest.mark.django_db
def test_support_may_not_export_payouts(support):
    paid_payout()
    response = export(support)
    assert response.status_code == 403
    assert not LogEntry.objects.filter(content_type__model="payout").exists()


@pytest.mark.django_db
def test_support_may_not_see_fee_rows_or_ledger_entries_to_export_them(support):
    assert support.get(reverse("admin:revenue_platformfee_changelist")).status_code == 403
    assert support.get(reverse("admin:revenue_ledgerentry_changelist")).status_code == 403


@pytest.mark.django_db
def test_a_superuser_may_export_payouts(root, superuser):
    payout = paid_payout()
    response = export(root)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert payout.reference in response.content.decode("utf-8-sig")
    assert LogEntry.objects.get(content_type__model="payout").user == superuser
