"""revenue.tasks: the Celery wrappers plan what the modules below them ask for.

ClickPesa is the in-process simulator (devtools.simulator). To see what a task enqueues, and
when for, the Celery app publishes to an in-memory broker for the test and the messages are
read from Celery's own ``before_task_publish`` signal; nothing of ours is patched.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
import time_machine
from celery.signals import before_task_publish
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from devtools.simulator import ClickPesaSimulator
from notifications.models import Notification
from revenue import tasks
from revenue.models import LedgerAccount, LedgerAuditRun, LedgerTransaction, Payout
from revenue.services import creator_balance, payout_request
from tests.celery_worker import publishing_to, unreachable_broker_url
from tests.factories import CreatorFactory, PayoutFactory, UserFactory, earn

PREVIEW = "/payouts/preview-mobile-money-payout"
SUBMIT = "revenue.tasks.payout_submit"


@pytest.fixture(autouse=True)
def clickpesa_settings(settings):
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    settings.CLICKPESA_CLIENT_ID = "sim-client"
    settings.CLICKPESA_API_KEY = "sim-key"
    settings.CLICKPESA_CHECKSUM_KEY = "tasks-checksum-key"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tasks"}}
    cache.clear()


@pytest.fixture
def start(settings):
    """Start a simulator with the given knobs and point our client at it."""
    started: list[ClickPesaSimulator] = []

    def start(**knobs) -> ClickPesaSimulator:
        simulator = ClickPesaSimulator(**knobs).start()
        started.append(simulator)
        settings.CLICKPESA_BASE_URL = simulator.url
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


class Published(list):
    """The task messages published while the fixture is active: (task name, args, eta)."""

    def of(self, name: str) -> list[tuple[tuple, datetime | None]]:
        return [(args, eta) for task, args, eta in self if task == name]


@pytest.fixture
def published():
    """Publish to an in-memory broker (no worker runs the tasks) and record what is published."""
    messages = Published()

    def record(sender=None, headers=None, body=None, **_):
        eta = headers.get("eta")
        messages.append((sender, tuple(body[0]), datetime.fromisoformat(eta) if eta else None))

    with publishing_to("memory://"):
        before_task_publish.connect(record, weak=False)
        yield messages
        before_task_publish.disconnect(record)


def assert_due_in(eta: datetime | None, seconds: float, *, since: datetime) -> None:
    assert eta is not None
    assert since + timedelta(seconds=seconds - 1) <= eta <= timezone.now() + timedelta(seconds=seconds + 1)


# --- payout_submit ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_cool_down_re_enqueues_the_submission_for_when_clickpesa_allows_it(start, published):
    start(cooldown=60)
    creator = CreatorFactory()
    earn(creator, Decimal("50000.00"))
    assert tasks.payout_submit(payout_request(creator).pk) == "submitted"
    earn(creator, Decimal("30000.00"))
    second = payout_request(creator)  # same wallet, within ClickPesa's cool-down

    before = timezone.now()
    assert tasks.payout_submit(second.pk) == "retry"

    ((args, eta),) = published.of(SUBMIT)
    assert args == (second.pk,)
    assert_due_in(eta, 60, since=before - timedelta(seconds=5))  # ClickPesa said: wait up to 60 s
    second.refresh_from_db()
    assert abs(eta - second.next_submission_at) < timedelta(seconds=1)  # the task and the row agree
    assert second.status == Payout.Status.PENDING


@pytest.mark.django_db
def test_a_transient_error_re_enqueues_the_submission_after_the_backoff(start, published):
    simulator = start()
    payout = PayoutFactory(submitted=False)
    simulator.fail_next(PREVIEW, status=503, message="Service Unavailable")

    before = timezone.now()
    assert tasks.payout_submit(payout.pk) == "retry"

    ((args, eta),) = published.of(SUBMIT)
    assert args == (payout.pk,)
    assert_due_in(eta, 30, since=before)
    payout.refresh_from_db()
    assert (payout.status, payout.submission_attempts) == (Payout.Status.PENDING, 1)


@pytest.mark.django_db
def test_a_submitted_payout_enqueues_nothing_more(start, published):
    start()
    payout = PayoutFactory(submitted=False)
    assert tasks.payout_submit(payout.pk) == "submitted"
    assert published.of(SUBMIT) == []
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PROCESSING


@pytest.mark.django_db
def test_a_refused_payout_enqueues_nothing_more(start, published):
    start(balance=Decimal("1000.00"))  # our ClickPesa balance cannot cover it
    payout = PayoutFactory(submitted=False)
    assert tasks.payout_submit(payout.pk) == "refused"
    assert published.of(SUBMIT) == []
    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED


@pytest.mark.django_db
def test_a_submission_that_is_not_due_is_skipped_and_enqueues_nothing(start, published):
    simulator = start()
    payout = PayoutFactory(submitted=False)
    simulator.fail_next(PREVIEW, status=503, message="Service Unavailable")
    tasks.payout_submit(payout.pk)
    published.clear()

    assert tasks.payout_submit(payout.pk) == "skipped"  # its retry is 30 s away
    assert published == []
    payout.refresh_from_db()
    assert payout.submission_attempts == 1


@pytest.mark.django_db
def test_requesting_a_payout_enqueues_its_submission_once_the_reserve_commits(
    published, django_capture_on_commit_callbacks
):
    creator = CreatorFactory()
    earn(creator, Decimal("50000.00"))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        payout = payout_request(creator)
    assert published.of(SUBMIT) == []  # not before the commit
    for callback in callbacks:
        callback()
    ((args, eta),) = published.of(SUBMIT)
    assert args == (payout.pk,)
    assert eta is None  # at once


@pytest.mark.django_db
def test_enqueuing_with_the_broker_down_does_not_raise_and_leaves_the_payout_to_the_sweeper(caplog):
    with publishing_to(unreachable_broker_url()):
        payout = PayoutFactory(submitted=False)
        tasks.payout_submit_enqueue(payout.pk)
    assert f"payout={payout.pk} submission not enqueued" in caplog.text
    payout.refresh_from_db()
    assert (payout.status, payout.submission_attempts) == (Payout.Status.PENDING, 0)
    assert payout.next_submission_at is not None


# --- payouts_submit_sweep ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sweep_task_submits_payouts_left_due_and_counts_them(start):
    simulator = start()
    stuck = [PayoutFactory(submitted=False), PayoutFactory(submitted=False)]  # their tasks never ran (never committed)

    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        assert tasks.payouts_submit_sweep() == 2
        assert tasks.payouts_submit_sweep() == 0

    for payout in stuck:
        payout.refresh_from_db()
        assert payout.status == Payout.Status.PROCESSING
        assert payout.reference in simulator.payouts


@pytest.mark.django_db
def test_the_sweep_task_leaves_a_payout_waiting_for_its_retry(start):
    simulator = start()
    payout = PayoutFactory(submitted=False)
    simulator.fail_next(PREVIEW, status=503, message="Service Unavailable")
    tasks.payout_submit(payout.pk)  # next attempt in 30 s

    with time_machine.travel(timezone.now() + timedelta(seconds=60)):
        assert tasks.payouts_submit_sweep() == 0  # due for less than the sweeper's minute
    with time_machine.travel(timezone.now() + timedelta(seconds=95)):
        assert tasks.payouts_submit_sweep() == 1

    payout.refresh_from_db()
    assert (payout.status, payout.submission_attempts) == (Payout.Status.PROCESSING, 2)


# --- earnings_release_due ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_release_task_releases_ended_holds_and_counts_them(settings):
    settings.EARNINGS_HOLD_DAYS = 3
    creators = [CreatorFactory(), CreatorFactory()]
    for creator in creators:
        earn(creator, Decimal("10000.00"))
    assert tasks.earnings_release_due() == 0

    with time_machine.travel(timezone.now() + timedelta(days=3, minutes=1)):
        assert tasks.earnings_release_due() == 2
        assert tasks.earnings_release_due() == 0

    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.EARNINGS_RELEASE).count() == 2
    for creator in creators:
        assert creator_balance(creator).available == Decimal("9200.00")


# --- ledger_audit -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_audit_task_alerts_finance_members_and_addresses_but_not_support(settings):
    settings.FINANCE_EMAILS = ["ledger@blinno.example"]
    finance = UserFactory()
    finance.groups.add(Group.objects.get(name="Finance"))
    support = UserFactory()
    support.groups.add(Group.objects.get(name="Support"))
    creator = CreatorFactory()
    earn(creator, Decimal("10000.00"))
    account = LedgerAccount.objects.get(creator=creator, kind=LedgerAccount.Kind.CREATOR_PENDING)
    with connection.cursor() as cursor:  # the cache is not journal: the immutability trigger allows this
        cursor.execute("UPDATE revenue_ledgeraccount SET balance = 5 WHERE id = %s", [account.pk])

    assert tasks.ledger_audit() is False

    run = LedgerAuditRun.objects.get()
    assert run.differences[0]["kind"] == LedgerAccount.Kind.CREATOR_PENDING
    alerts = Notification.objects.filter(kind=Notification.Kind.FINANCE_ALERT)
    assert {(a.recipient_id, a.email) for a in alerts} == {
        (finance.pk, finance.email),
        (None, "ledger@blinno.example"),
    }
    assert all(f"ledger-audit:{run.pk}:" in a.dedupe_key for a in alerts)
    assert "kind=CREATOR_PENDING" in alerts[0].body and "cached=5.00" in alerts[0].body


@pytest.mark.django_db
def test_each_audit_run_that_finds_a_difference_alerts_again(settings):
    finance = UserFactory()
    finance.groups.add(Group.objects.get(name="Finance"))
    creator = CreatorFactory()
    earn(creator)
    LedgerAccount.objects.filter(creator=creator, kind=LedgerAccount.Kind.CREATOR_AVAILABLE).update(balance=1)

    assert (tasks.ledger_audit(), tasks.ledger_audit()) == (False, False)

    assert Notification.objects.filter(recipient=finance, kind=Notification.Kind.FINANCE_ALERT).count() == 2
    assert LedgerAuditRun.objects.filter(ok=False).count() == 2
