"""Support and Finance request a payout on a creator's behalf from the admin, with a reason."""

from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from revenue.models import Payout, PayoutStatusChange
from tests.factories import CreatorFactory, earn
from tests.staff import AdminClient, messages_of, staff

USERS = reverse("admin:accounts_user_changelist")


@pytest.mark.django_db
@pytest.mark.parametrize("group", ["Support", "Finance"])
def test_staff_request_a_payout_with_a_reason(group):
    member = staff(group, username=f"{group.lower()}_member")
    desk = AdminClient(member)
    creator = CreatorFactory()
    earn(creator, Decimal("20000.00"))
    asked = desk.action(USERS, "request_payouts", [creator])
    assert b"Reason (required)" in asked.content
    assert not Payout.objects.exists()
    done = desk.action(USERS, "request_payouts", [creator], apply="1", reason="Creator asked by phone")
    assert messages_of(done) == ["1 payout requested"]
    payout = Payout.objects.get()
    assert (payout.creator, payout.amount, payout.requested_by) == (creator, Decimal("18400.00"), member)
    change = PayoutStatusChange.objects.get(payout=payout)
    assert change.note == "Requested by staff: Creator asked by phone"
    assert "Creator asked by phone" in LogEntry.objects.get(object_id=str(creator.pk)).change_message


@pytest.mark.django_db
def test_without_a_reason_nothing_is_requested(support):
    creator = CreatorFactory()
    earn(creator)
    response = support.action(USERS, "request_payouts", [creator], apply="1", reason="  ")
    assert b"A reason is required." in response.content
    assert not Payout.objects.exists()


@pytest.mark.django_db
def test_a_creator_with_nothing_available_is_refused_and_said_so(finance):
    creator = CreatorFactory()
    response = finance.action(USERS, "request_payouts", [creator], apply="1", reason="asked")
    assert messages_of(response)[0] == "0 payouts requested, 1 refused: nothing available"
    assert not Payout.objects.exists()


@pytest.mark.django_db
def test_staff_without_the_permission_do_not_see_the_action():
    desk = AdminClient(staff(None, username="plain_staff", is_superuser=False))
    response = desk.get(USERS)
    assert b"request_payouts" not in response.content
