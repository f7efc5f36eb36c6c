"""The nightly ledger audit tells finance when the cache and the journal disagree."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from notifications.models import Notification
from revenue.models import LedgerAccount, LedgerAuditRun
from revenue.tasks import ledger_audit
from tests.factories import CreatorFactory, UserFactory, earn


@pytest.mark.django_db
def test_a_clean_ledger_records_a_clean_verdict_and_alerts_nobody():
    earn(CreatorFactory(), Decimal("10000.00"))
    assert ledger_audit() is True
    assert LedgerAuditRun.objects.get().ok is True
    assert not Notification.objects.filter(kind=Notification.Kind.FINANCE_ALERT).exists()


@pytest.mark.django_db
def test_a_difference_alerts_finance():
    finance = UserFactory()
    finance.groups.add(Group.objects.get_or_create(name="Finance")[0])
    creator = CreatorFactory()
    earn(creator, Decimal("10000.00"))
    LedgerAccount.objects.filter(creator=creator, kind="CREATOR_AVAILABLE").update(balance=Decimal("1.00"))

    assert ledger_audit() is False

    alert = Notification.objects.get(recipient=finance, kind=Notification.Kind.FINANCE_ALERT)
    assert "1 difference" in alert.subject
    assert "cached=1.00" in alert.body
