"""The ledger page (balances, audit verdict, run the audit) and the manual adjustment form."""

import uuid
from decimal import Decimal

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.urls import reverse

from revenue.models import LedgerAccount, LedgerAuditRun, LedgerTransaction
from revenue.services import creator_balance
from tests.factories import CreatorFactory, earn
from tests.staff import messages_of

LEDGER = reverse("admin:revenue_ledger")
ADJUST = reverse("admin:revenue_ledgertransaction_adjust")
Kind = LedgerAccount.Kind


def platform(kind: str) -> LedgerAccount:
    return LedgerAccount.objects.get(kind=kind, creator=None, currency="TZS")


def creator_account(creator, kind: str = Kind.CREATOR_AVAILABLE) -> LedgerAccount:
    return LedgerAccount.objects.get(kind=kind, creator=creator, currency="TZS")


@pytest.mark.django_db
def test_the_ledger_page_shows_platform_balances_creator_totals_and_a_trial_balance(finance):
    payment = earn(CreatorFactory(), Decimal("10000.00"))  # buyer pays 10,000 + 2.5 % + 750 = 11,000
    response = finance.get(LEDGER)
    balances = {a.kind: a.current_balance for a in response.context["platform_accounts"]}
    assert balances == {
        Kind.GATEWAY_CASH: payment.amount,
        Kind.PLATFORM_FEES: Decimal("677.97"),
        Kind.PROCESSING_FEES: Decimal("847.46"),
        Kind.VAT_PAYABLE: Decimal("274.57"),  # 18 % inside both fees
    }
    totals = {t["kind"]: t["total"] for t in response.context["creator_totals"]}
    assert totals[Kind.CREATOR_AVAILABLE] == Decimal("9200.00")
    assert response.context["trial_rows"] == [
        {"currency": "TZS", "debit": Decimal("11000.00"), "credit": Decimal("11000.00"), "balanced": True}
    ]


@pytest.mark.django_db
def test_the_ledger_page_says_when_the_audit_has_not_run(finance):
    assert "The audit has not run yet." in finance.get(LEDGER).content.decode()


@pytest.mark.django_db
def test_running_the_audit_records_the_verdict_and_shows_it(finance, finance_user):
    earn(CreatorFactory())
    response = finance.post(reverse("admin:revenue_ledger_audit"), follow=True)
    run = LedgerAuditRun.objects.get()
    assert run.ok is True
    assert messages_of(response)[0].startswith("Ledger audit: clean;")
    assert "<strong>clean</strong>" in response.content.decode()
    entry = LogEntry.objects.get(object_id=str(run.pk), content_type__model="ledgerauditrun")
    assert (entry.user, entry.action_flag) == (finance_user, ADDITION)


@pytest.mark.django_db
def test_the_audit_runs_on_post_only(finance):
    assert finance.get(reverse("admin:revenue_ledger_audit")).status_code == 405
    assert not LedgerAuditRun.objects.exists()


@pytest.mark.django_db
def test_creators_are_listed_fifty_a_page_largest_available_first(finance):
    creators = [CreatorFactory() for _ in range(51)]
    earn(creators[-1], Decimal("20000.00"))
    first = finance.get(LEDGER)
    assert len(first.context["creator_rows"]) == 50
    assert first.context["creator_rows"][0]["creator"] == creators[-1]
    assert len(finance.get(LEDGER, {"page": 2}).context["creator_rows"]) == 1


@pytest.mark.django_db
def test_the_creator_list_can_be_searched(finance):
    wanted, _ = CreatorFactory(first_name="Zawadi"), CreatorFactory(first_name="Baraka")
    rows = finance.get(LEDGER, {"q": "zawadi"}).context["creator_rows"]
    assert [r["creator"] for r in rows] == [wanted]


def adjustment(debit: LedgerAccount, credit: LedgerAccount, amount: str, reason: str, token=None) -> dict:
    return {
        "debit_account": debit.pk,
        "credit_account": credit.pk,
        "amount": amount,
        "reason": reason,
        "token": str(token or uuid.uuid4()),
    }


@pytest.mark.django_db
def test_finance_posts_a_balanced_adjustment_with_its_reason(finance, finance_user):
    creator = CreatorFactory()
    earn(creator)
    data = adjustment(platform(Kind.PLATFORM_FEES), creator_account(creator), "500.00", "Goodwill: late delivery")
    response = finance.post(ADJUST, data, follow=True)
    txn = LedgerTransaction.objects.get(kind=LedgerTransaction.Kind.ADJUSTMENT)
    assert response.redirect_chain[-1][0] == reverse("admin:revenue_ledgertransaction_change", args=[txn.pk])
    assert sorted((e.account.kind, e.direction, e.amount) for e in txn.entries.select_related("account")) == [
        (Kind.CREATOR_AVAILABLE, "CREDIT", Decimal("500.00")),
        (Kind.PLATFORM_FEES, "DEBIT", Decimal("500.00")),
    ]
    assert txn.posted_by == finance_user
    assert "Goodwill: late delivery" in txn.memo
    assert creator_balance(creator).available == Decimal("9700.00")
    log = LogEntry.objects.get(object_id=str(txn.pk), content_type__model="ledgertransaction")
    assert log.action_flag == ADDITION and "Goodwill: late delivery" in log.change_message
    assert messages_of(response)[0].startswith(f"Adjustment #{txn.pk} posted")


@pytest.mark.django_db
def test_an_adjustment_needs_a_reason(finance):
    creator = CreatorFactory()
    earn(creator)
    response = finance.post(ADJUST, adjustment(platform(Kind.PLATFORM_FEES), creator_account(creator), "5.00", "   "))
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.ADJUSTMENT).exists()


@pytest.mark.django_db
def test_an_adjustment_cannot_take_a_creator_below_zero(finance):
    creator = CreatorFactory()
    earn(creator)
    data = adjustment(creator_account(creator), platform(Kind.PLATFORM_FEES), "9200.01", "clawback")
    response = finance.post(ADJUST, data)
    assert "cannot move" in response.content.decode()
    assert creator_balance(creator).available == Decimal("9200.00")
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.ADJUSTMENT).exists()


@pytest.mark.django_db
def test_an_adjustment_between_one_account_and_itself_is_refused(finance):
    earn(CreatorFactory())
    fees = platform(Kind.PLATFORM_FEES)
    response = finance.post(ADJUST, adjustment(fees, fees, "1.00", "nothing"))
    assert "Debit and credit accounts must differ." in response.content.decode()
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.ADJUSTMENT).exists()


@pytest.mark.django_db
def test_submitting_the_same_adjustment_form_twice_posts_once(finance):
    creator = CreatorFactory()
    earn(creator)
    data = adjustment(platform(Kind.PLATFORM_FEES), creator_account(creator), "100.00", "double click")
    finance.post(ADJUST, data)
    finance.post(ADJUST, data)
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.ADJUSTMENT).count() == 1
    assert creator_balance(creator).available == Decimal("9300.00")


@pytest.mark.django_db
def test_the_adjustment_form_finds_accounts_by_autocomplete(finance):
    earn(CreatorFactory())
    response = finance.get(
        reverse("admin:autocomplete"),
        {"app_label": "revenue", "model_name": "ledgerentry", "field_name": "account", "term": "PLATFORM_FEES"},
    )
    assert [r["text"] for r in response.json()["results"]] == [str(platform(Kind.PLATFORM_FEES))]


@pytest.mark.django_db
def test_the_adjustment_form_renders_with_its_widgets(finance):
    page = finance.get(ADJUST).content.decode()
    assert 'data-model-name="ledgerentry"' in page and 'name="token"' in page
    assert "autocomplete.js" in page
