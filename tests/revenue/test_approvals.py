"""Four eyes: adjustments and payouts that need a second person, decided only by another permitted user."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.db import IntegrityError, transaction

from revenue.approvals import ApprovalError, approval_approve, approval_reject, approvals_waiting
from revenue.ledger import LedgerError, account_book
from revenue.models import Approval, LedgerAccount, LedgerTransaction, Payout
from revenue.services import creator_balance, ledger_adjust, payout_request
from revenue.submission import payout_claim
from tests.factories import CreatorFactory, earn
from tests.staff import staff

Kind = LedgerAccount.Kind
pytestmark = pytest.mark.django_db


@pytest.fixture
def second_finance(db):
    return staff("Finance", username="fred_finance")


def accounts(creator):
    book = account_book("TZS", creator_ids=[creator.pk], platform_kinds=[Kind.GATEWAY_CASH, Kind.SUSPENSE])
    return book


def test_a_large_adjustment_waits_for_another_person(finance_user, second_finance, settings):
    settings.ADJUSTMENT_APPROVAL_THRESHOLD = {"TZS": Decimal("1000.00")}
    creator = CreatorFactory()
    book = accounts(creator)

    asked = ledger_adjust(
        debit_account=book.platform(Kind.SUSPENSE),
        credit_account=book.creator(creator.pk, Kind.CREATOR_AVAILABLE),
        amount=Decimal("5000.00"),
        reason="Goodwill for a lost order",
        by=finance_user,
    )

    assert isinstance(asked, Approval)
    assert not LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.ADJUSTMENT).exists()
    assert approvals_waiting() == 1
    with pytest.raises(ApprovalError) as refused:
        approval_approve(asked, by=finance_user)
    assert refused.value.code == "self_approval"

    done = approval_approve(asked, by=second_finance, reason="Checked the order")

    txn = LedgerTransaction.objects.get(kind=LedgerTransaction.Kind.ADJUSTMENT)
    assert (done.decision, done.decided_by, txn.posted_by) == ("APPROVED", second_finance, finance_user)
    assert f"approved by {second_finance}" in txn.memo
    assert creator_balance(creator).available == Decimal("5000.00")
    assert approvals_waiting() == 0
    assert LogEntry.objects.filter(object_id=str(asked.pk)).count() == 2  # asked, approved
    with pytest.raises(ApprovalError, match="already approved"):
        approval_approve(asked, by=staff("Finance", username="third"))


def test_touching_gateway_cash_needs_approval_whatever_the_amount(finance_user):
    creator = CreatorFactory()
    book = accounts(creator)

    asked = ledger_adjust(
        debit_account=book.platform(Kind.GATEWAY_CASH),
        credit_account=book.creator(creator.pk, Kind.CREATOR_AVAILABLE),
        amount=Decimal("1.00"),
        reason="Credit from cash",
        by=finance_user,
    )

    assert isinstance(asked, Approval)


def test_a_small_ordinary_adjustment_posts_at_once(finance_user):
    creator = CreatorFactory()
    book = accounts(creator)

    txn = ledger_adjust(
        debit_account=book.platform(Kind.SUSPENSE),
        credit_account=book.creator(creator.pk, Kind.CREATOR_AVAILABLE),
        amount=Decimal("100.00"),
        reason="Rounding",
        by=finance_user,
    )

    assert isinstance(txn, LedgerTransaction)


@pytest.mark.parametrize("side", ["debit", "credit"])
def test_no_adjustment_touches_a_payout_in_flight(finance_user, side):
    creator = CreatorFactory()
    earn(creator)
    payout_request(creator)
    book = accounts(creator)
    in_flight, available = (
        book.creator(creator.pk, Kind.CREATOR_PAYOUT_IN_FLIGHT),
        book.creator(creator.pk, Kind.CREATOR_AVAILABLE),
    )
    pair = (in_flight, available) if side == "debit" else (available, in_flight)

    with pytest.raises(LedgerError) as refused:
        ledger_adjust(
            debit_account=pair[0], credit_account=pair[1], amount=Decimal("9200.00"), reason="x", by=finance_user
        )

    assert refused.value.code == "in_flight_account"
    assert not Approval.objects.exists()


def test_an_adjustment_above_the_maximum_is_refused_before_anyone_is_asked(finance_user, settings):
    settings.ADJUSTMENT_MAXIMUM = {"TZS": Decimal("50000.00")}
    creator = CreatorFactory()
    book = accounts(creator)

    with pytest.raises(LedgerError) as refused:
        ledger_adjust(
            debit_account=book.platform(Kind.SUSPENSE),
            credit_account=book.creator(creator.pk, Kind.CREATOR_AVAILABLE),
            amount=Decimal("50000.01"),
            reason="Too much",
            by=finance_user,
        )

    assert refused.value.code == "above_maximum"
    assert not Approval.objects.exists()


def test_someone_without_the_permission_cannot_decide(finance_user, support_user):
    creator = CreatorFactory()
    book = accounts(creator)
    asked = ledger_adjust(
        debit_account=book.platform(Kind.GATEWAY_CASH),
        credit_account=book.creator(creator.pk, Kind.CREATOR_AVAILABLE),
        amount=Decimal("1.00"),
        reason="x",
        by=finance_user,
    )

    with pytest.raises(ApprovalError) as refused:
        approval_approve(asked, by=support_user)

    assert refused.value.code == "not_allowed"


def test_the_database_refuses_a_decision_by_the_requester(finance_user):
    creator = CreatorFactory()
    book = accounts(creator)
    asked = ledger_adjust(
        debit_account=book.platform(Kind.GATEWAY_CASH),
        credit_account=book.creator(creator.pk, Kind.CREATOR_AVAILABLE),
        amount=Decimal("1.00"),
        reason="x",
        by=finance_user,
    )

    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.filter(pk=asked.pk).update(decided_by=finance_user, decision="APPROVED")


def test_a_payout_above_the_threshold_is_reserved_but_not_submitted_until_approved(
    settings, finance_user, second_finance
):
    settings.PAYOUT_APPROVAL_THRESHOLD = {"TZS": Decimal("9000.00")}
    creator = CreatorFactory()
    earn(creator)

    payout = payout_request(creator, requested_by=finance_user)

    payout.refresh_from_db()
    assert (payout.status, payout.next_submission_at) == (Payout.Status.PENDING, None)
    assert creator_balance(creator).in_flight == Decimal("9200.00")  # nobody can request it twice
    assert payout_claim(payout.pk) is None  # the submitter never takes it
    approval = Approval.objects.get(kind=Approval.Kind.PAYOUT, subject_id=payout.pk)

    approval_approve(approval, by=second_finance)

    assert payout_claim(payout.pk) == 0


def test_a_rejected_payout_is_cancelled_and_its_money_goes_back(settings, finance_user, second_finance):
    settings.PAYOUT_APPROVAL_THRESHOLD = {"TZS": Decimal("9000.00")}
    creator = CreatorFactory()
    earn(creator)
    payout = payout_request(creator)  # asked by the creator: any Finance user may decide
    approval = Approval.objects.get(kind=Approval.Kind.PAYOUT)
    assert approval.requested_by == creator

    with pytest.raises(ApprovalError, match="reason"):
        approval_reject(approval, by=second_finance, reason=" ")
    approval_reject(approval, by=second_finance, reason="Unusual amount for this creator")

    payout.refresh_from_db()
    assert payout.status == Payout.Status.CANCELLED
    assert "Unusual amount" in payout.notes
    assert creator_balance(creator).available == Decimal("9200.00")


def test_the_approvals_page_approves_and_rejects_with_a_reason(finance, settings, second_finance):
    from tests.staff import AdminClient

    settings.PAYOUT_APPROVAL_THRESHOLD = {"TZS": Decimal("9000.00")}
    creators = [CreatorFactory(), CreatorFactory()]
    for creator in creators:
        earn(creator)
        payout_request(creator, requested_by=finance.user)
    first, second = Approval.objects.order_by("id")
    url = "/admin/revenue/approval/"

    own = finance.action(url, "approve_approvals", [first])
    assert "you asked for it yourself" in own.content.decode()

    other = AdminClient(second_finance)
    assert other.get(url).status_code == 200
    done = other.action(url, "approve_approvals", [first])
    assert "1 request approved" in done.content.decode()
    asking = other.action(url, "reject_approvals", [second])
    assert "Reason (required)" in asking.content.decode()
    rejected = other.action(url, "reject_approvals", [second], apply="1", reason="Not expected")
    assert "1 request rejected" in rejected.content.decode()
    assert list(Approval.objects.order_by("id").values_list("decision", flat=True)) == ["APPROVED", "REJECTED"]
