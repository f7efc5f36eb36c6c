"""Payout submission to ClickPesa (revenue.submission), against the in-process simulator.

The simulator stands in for ClickPesa at the HTTP layer; our own code runs unpatched. Webhooks
go nowhere unless a test gives the simulator our live server's URL.
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.utils import timezone

from clickpesa.models import WebhookEvent
from devtools.simulator import ClickPesaSimulator
from notifications.models import Notification
from revenue.models import LedgerTransaction, Payout, PayoutMethod, PayoutStatusChange
from revenue.services import creator_balance, payout_request
from revenue.submission import MAX_ATTEMPTS, payout_submit, payouts_submit_sweep
from tests.conftest import run_concurrently
from tests.factories import CreatorFactory, PayoutFactory, PayoutMethodFactory, UserFactory, earn

KEY = "submission-checksum-key"
CREATE = "/payouts/create-mobile-money-payout"
PREVIEW = "/payouts/preview-mobile-money-payout"


@pytest.fixture(autouse=True)
def clickpesa_settings(settings):
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    settings.CLICKPESA_CLIENT_ID = "sim-client"
    settings.CLICKPESA_API_KEY = "sim-key"
    settings.CLICKPESA_CHECKSUM_KEY = KEY
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "submit"}}
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


def _paths(simulator: ClickPesaSimulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in simulator.requests if r.path != "/generate-token"]


def _later(seconds: int = 3700):
    """Travel past any planned retry (the simulator's own clocks are monotonic and unaffected)."""
    return time_machine.travel(timezone.now() + timedelta(seconds=seconds))


def _returns(payout: Payout) -> int:
    return LedgerTransaction.objects.filter(payout=payout, kind=LedgerTransaction.Kind.PAYOUT_RETURN).count()


@pytest.mark.django_db(transaction=True)
def test_a_requested_payout_is_submitted_and_paid_through_webhooks_to_our_endpoint(start, live_server):
    simulator = start(webhook_url=live_server.url)

    payout = PayoutFactory(submitted=False)  # the reserve commits, and its submission runs after commit
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PROCESSING
    simulator.deliver_pending()

    payout.refresh_from_db()
    sim_payout = simulator.payouts[payout.reference]
    assert payout.status == Payout.Status.PAID
    assert payout.gateway_id == sim_payout.id
    assert payout.gateway_fee == sim_payout.fee
    assert creator_balance(payout.creator).in_flight == 0
    assert list(payout.status_changes.values_list("to_status", "source")) == [
        (Payout.Status.PENDING, PayoutStatusChange.Source.SYSTEM),
        (Payout.Status.PROCESSING, PayoutStatusChange.Source.API),
        (Payout.Status.PAID, PayoutStatusChange.Source.WEBHOOK),
    ]
    assert set(WebhookEvent.objects.values_list("status", flat=True)) <= {"PROCESSED", "IGNORED"}


@pytest.mark.django_db
def test_it_previews_then_creates_with_the_payouts_own_reference_and_amount(start):
    simulator = start()
    payout = PayoutFactory(submitted=False)

    result = payout_submit(payout.pk)

    assert result.result == "submitted"
    assert _paths(simulator) == [f"POST {PREVIEW}", f"POST {CREATE}"]
    create = simulator.requests[-1].body
    assert create["orderReference"] == payout.reference
    assert create["amount"] == payout.amount
    assert create["phoneNumber"] == payout.method_snapshot["account_number"]
    payout.refresh_from_db()
    assert (payout.status, payout.submission_attempts, payout.next_submission_at) == (Payout.Status.PROCESSING, 1, None)
    assert payout.submitted_at is not None


@pytest.mark.django_db
def test_a_bank_payout_is_sent_as_a_bank_transfer_to_the_snapshot_account(start):
    simulator = start()
    creator = CreatorFactory(payout_method=False)
    PayoutMethodFactory(
        creator=creator,
        kind=PayoutMethod.Kind.BANK_ACCOUNT,
        provider="CRDB",
        account_number="0150123456789",
        bic="CORUTZTZ",
    )
    earn(creator, Decimal("50000.00"))
    payout = payout_request(creator)

    payout_submit(payout.pk)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PROCESSING
    create = simulator.requests[-1]
    assert create.path == "/payouts/create-bank-payout"
    assert (create.body["accountNumber"], create.body["bic"], create.body["transferType"]) == (
        "0150123456789",
        "CORUTZTZ",
        "ACH",
    )


@pytest.mark.django_db
def test_a_crash_between_clickpesa_accepting_and_us_saving_is_queried_not_paid_twice(start):
    simulator = start()
    payout = PayoutFactory(submitted=False)
    simulator.fail_next(CREATE, status=500, after_apply=True)  # created at ClickPesa; the answer is lost

    first = payout_submit(payout.pk)
    sent = len(_paths(simulator))
    with _later():
        second = payout_submit(payout.pk)

    payout.refresh_from_db()
    assert (first.result, second.result) == ("retry", "submitted")
    assert _paths(simulator)[sent:] == [f"GET /payouts/{payout.reference}"]  # asked, not sent again
    assert payout.status == Payout.Status.PROCESSING
    assert payout.gateway_id == simulator.payouts[payout.reference].id
    assert len(simulator.payouts) == 1


@pytest.mark.django_db
def test_a_reference_already_used_is_queried_and_its_status_applied(start):
    simulator = start()
    payout = PayoutFactory(submitted=False)
    simulator.fail_next(CREATE, status=500, after_apply=True)
    payout_submit(payout.pk)
    # ClickPesa's query lags its create: the first attempt's payout is not found, so it is sent again.
    simulator.fail_next(f"/payouts/{payout.reference}", status=404, message="Payout not found")

    with _later():
        result = payout_submit(payout.pk)

    payout.refresh_from_db()
    assert result.result == "submitted"
    assert payout.status == Payout.Status.PROCESSING
    assert payout.gateway_id == simulator.payouts[payout.reference].id
    assert len(simulator.payouts) == 1


@pytest.mark.django_db
def test_a_refused_query_about_an_earlier_attempt_never_fails_the_payout(start):
    simulator = start()
    payout = PayoutFactory(submitted=False)
    simulator.fail_next(CREATE, status=500, after_apply=True)
    payout_submit(payout.pk)
    simulator.fail_next(f"/payouts/{payout.reference}", status=400, message="Bad Request")

    with _later():
        result = payout_submit(payout.pk)

    payout.refresh_from_db()
    assert result.result == "retry"  # ClickPesa holds the payout: a refusal to say so proves nothing
    assert payout.status == Payout.Status.PENDING
    assert _returns(payout) == 0


@pytest.mark.django_db
def test_a_cool_down_is_retried_after_the_wait_clickpesa_states(start):
    simulator = start(cooldown=60)
    creator = CreatorFactory()
    earn(creator, Decimal("50000.00"))
    payout_submit(payout_request(creator).pk)
    earn(creator, Decimal("30000.00"))
    second = payout_request(creator)  # to the same wallet within ClickPesa's cool-down

    before = timezone.now()
    result = payout_submit(second.pk)

    second.refresh_from_db()
    assert result.result == "retry"
    assert 55 <= result.retry_in <= 60
    assert second.status == Payout.Status.PENDING
    assert "clickpesa_cool_down" in second.last_error
    wait = timedelta(seconds=result.retry_in)
    assert before + wait <= second.next_submission_at <= timezone.now() + wait
    assert _returns(second) == 0
    assert second.reference not in simulator.payouts


@pytest.mark.django_db
def test_a_payout_whose_cool_down_has_passed_is_created(start):
    simulator = start(cooldown=1)
    creator = CreatorFactory()
    earn(creator, Decimal("50000.00"))
    payout_submit(payout_request(creator).pk)
    earn(creator, Decimal("30000.00"))
    second = payout_request(creator)
    assert payout_submit(second.pk).retry_in == 1

    time.sleep(1.1)  # ClickPesa's clock (the simulator's) must see the wait pass too
    result = payout_submit(second.pk)

    second.refresh_from_db()
    assert result.result == "submitted"
    assert second.status == Payout.Status.PROCESSING
    assert second.reference in simulator.payouts


@pytest.mark.django_db
def test_insufficient_merchant_balance_fails_the_payout_and_returns_the_money_once(start):
    simulator = start(balance=Decimal("1000.00"))
    payout = PayoutFactory(submitted=False)
    available = creator_balance(payout.creator).available

    result = payout_submit(payout.pk)
    again = payout_submit(payout.pk)

    payout.refresh_from_db()
    assert (result.result, again.result) == ("refused", "skipped")
    assert payout.status == Payout.Status.FAILED
    assert "Insufficient balance" in payout.notes
    assert "clickpesa_insufficient_balance" in payout.last_error
    assert _returns(payout) == 1
    balance = creator_balance(payout.creator)
    assert (balance.available, balance.in_flight) == (available + payout.amount, 0)
    assert simulator.payouts == {}


@pytest.mark.django_db
def test_an_invalid_number_fails_the_payout_with_clickpesas_reason(start):
    start()
    creator = CreatorFactory(payout_method=False)
    PayoutMethodFactory(creator=creator, account_number="0754000111")
    earn(creator, Decimal("50000.00"))
    payout = payout_request(creator)

    payout_submit(payout.pk)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED
    assert "Invalid / unsupported phone number" in payout.notes
    assert payout.status_changes.last().source == PayoutStatusChange.Source.API


@pytest.mark.django_db
def test_a_transient_error_keeps_the_money_in_flight_and_retries_with_backoff(start):
    simulator = start()
    payout = PayoutFactory(submitted=False)
    simulator.fail_next(PREVIEW, status=503, message="Service Unavailable")

    before = timezone.now()
    result = payout_submit(payout.pk)

    payout.refresh_from_db()
    assert (result.result, result.retry_in) == ("retry", 30)
    assert payout.status == Payout.Status.PENDING
    assert payout.submission_attempts == 1
    assert payout.last_error == "clickpesa_server_error: Service Unavailable (HTTP 503)"
    assert "Submission attempt 1 failed: clickpesa_server_error" in payout.notes
    assert before + timedelta(seconds=29) < payout.next_submission_at < timezone.now() + timedelta(seconds=31)
    assert creator_balance(payout.creator).in_flight == payout.amount
    assert payout_submit(payout.pk).result == "skipped"  # not due yet


@pytest.mark.django_db
def test_support_is_alerted_after_the_last_attempt_and_no_money_is_returned(start):
    simulator = start()
    support = UserFactory(is_staff=True)
    support.groups.add(Group.objects.get_or_create(name="Support")[0])
    payout = PayoutFactory(submitted=False)
    simulator.fail_next(PREVIEW, status=502, message="Bad Gateway", times=MAX_ATTEMPTS)

    results = []
    for hours in range(MAX_ATTEMPTS):
        with _later(3700 * hours):
            results.append(payout_submit(payout.pk).result)

    payout.refresh_from_db()
    assert results == ["retry"] * (MAX_ATTEMPTS - 1) + ["gave_up"]
    assert payout.status == Payout.Status.PENDING
    assert (payout.submission_attempts, payout.next_submission_at, payout.needs_review) == (MAX_ATTEMPTS, None, True)
    assert _returns(payout) == 0
    assert creator_balance(payout.creator).in_flight == payout.amount
    alert = Notification.objects.get(kind=Notification.Kind.STAFF_ALERT, recipient=support)
    assert payout.reference in alert.subject
    with _later(3700 * MAX_ATTEMPTS):
        assert payout_submit(payout.pk).result == "skipped"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submissions_of_one_payout_create_one_clickpesa_payout(start, settings):
    settings.CLICKPESA_CLIENT_ID = ""  # the reserve's own submission is held back for this test
    payout = PayoutFactory(submitted=False)
    settings.CLICKPESA_CLIENT_ID = "sim-client"
    simulator = start()

    results = run_concurrently(lambda i: payout_submit(payout.pk).result, 4)

    payout.refresh_from_db()
    assert sorted(results) == ["skipped", "skipped", "skipped", "submitted"]
    assert len(simulator.payouts) == 1
    assert _paths(simulator).count(f"POST {CREATE}") == 1
    assert payout.submission_attempts == 1


@pytest.mark.django_db
def test_the_sweeper_submits_a_payout_whose_task_was_lost(start):
    simulator = start()
    payout = PayoutFactory(submitted=False)  # on_commit never runs inside the test's transaction: the task is "lost"

    assert payouts_submit_sweep() == 0  # due for less than a minute: its task may still come
    with _later(61):
        swept = payouts_submit_sweep()

    payout.refresh_from_db()
    assert swept == 1
    assert payout.status == Payout.Status.PROCESSING
    assert payout.reference in simulator.payouts


@pytest.mark.django_db
def test_without_credentials_nothing_is_submitted_or_counted(start, settings):
    simulator = start()
    settings.CLICKPESA_API_KEY = ""
    payout = PayoutFactory(submitted=False)

    result = payout_submit(payout.pk)
    with _later(61):
        swept = payouts_submit_sweep()

    payout.refresh_from_db()
    assert (result.result, swept) == ("not_configured", 0)
    assert (payout.status, payout.submission_attempts) == (Payout.Status.PENDING, 0)
    assert simulator.requests == []
