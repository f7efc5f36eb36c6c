"""Payout runs: proposed for every creator with enough available and a default method, trimmed,
approved by a second person, then submitted one at a time by one dispatcher within ClickPesa's
cool-down and rate limit, shared through Redis (the simulator enforces both)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from clickpesa.client import ClickPesaClient
from devtools.simulator import ClickPesaSimulator
from revenue.approvals import ApprovalError, approval_approve
from revenue.models import Payout, PayoutRun, PayoutRunLine
from revenue.runs import (
    PayoutRunError,
    payout_run_ask_approval,
    payout_run_dispatch_step,
    payout_run_drop,
    payout_run_progress,
    payout_run_propose,
    payout_runs_dispatch_due,
)
from tests.conftest import run_concurrently
from tests.factories import CreatorFactory, earn
from tests.staff import staff

LineStatus = PayoutRunLine.Status
REDIS = "redis://127.0.0.1:6379/7"


@pytest.fixture
def clickpesa(settings):
    """The simulator as ClickPesa, and our limiter in Redis, as in production."""
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    settings.CLICKPESA_CLIENT_ID = "sim-client"
    settings.CLICKPESA_API_KEY = "sim-key"
    settings.CLICKPESA_CHECKSUM_KEY = "sim-checksum-key"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "runs"}}
    settings.CLICKPESA_RATE_LIMIT_REDIS_URL = REDIS
    cache.clear()
    started: list[ClickPesaSimulator] = []

    def start(**knobs) -> ClickPesaSimulator:
        simulator = ClickPesaSimulator(**knobs).start()
        started.append(simulator)
        settings.CLICKPESA_BASE_URL = simulator.url  # a new port: the limiter's Redis keys are this test's own
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


def _approved_run(creators: int) -> PayoutRun:
    """A run of ``creators`` payouts, asked for by one person and approved by another.

    Superusers: a transactional test's flush removes the groups the migrations made."""
    for i in range(creators):
        earn(CreatorFactory(), Decimal("10000.00") + i)
    asker = staff(None, username="asker", is_superuser=True)
    finance = staff(None, username="approver", is_superuser=True)
    run = payout_run_propose()
    approval_approve(payout_run_ask_approval(run, by=asker), by=finance)
    run.refresh_from_db()
    return run


def _dispatch(run: PayoutRun) -> None:
    """What the Celery chain does: each turn, then sleep until the next."""
    while (wait := payout_run_dispatch_step(run.pk)) is not None:
        time.sleep(wait)


@pytest.mark.django_db
def test_a_run_proposes_every_creator_with_enough_available_and_a_default_method():
    rich, poor, no_method = CreatorFactory(), CreatorFactory(), CreatorFactory(payout_method=False)
    earn(rich, Decimal("50000.00"))
    earn(poor, Decimal("3000.00"))  # 2,760 available: below the 5,000 minimum
    earn(no_method, Decimal("50000.00"))
    run = payout_run_propose()
    assert [(line.creator, line.proposed_amount) for line in run.lines.all()] == [(rich, Decimal("46000.00"))]
    with pytest.raises(PayoutRunError, match="already open"):
        payout_run_propose()


@pytest.mark.django_db
def test_dropped_lines_are_not_paid_and_the_asker_cannot_approve_their_own_run(finance_user):
    kept, dropped = CreatorFactory(), CreatorFactory()
    earn(kept, Decimal("50000.00"))
    earn(dropped, Decimal("60000.00"))
    asker = staff("Finance", username="asker")
    run = payout_run_propose()
    drop = run.lines.get(creator=dropped)
    assert payout_run_drop([drop], by=asker, reason="disputed sale") == 1
    approval = payout_run_ask_approval(run, by=asker)
    assert approval.amount == Decimal("46000.00")
    assert payout_run_drop([run.lines.get(creator=kept)], by=asker, reason="too late") == 0

    with pytest.raises(ApprovalError, match="Someone else"):
        approval_approve(approval, by=asker)
    approval_approve(approval, by=finance_user)

    run.refresh_from_db()
    assert run.status == PayoutRun.Status.DISPATCHING
    payout = Payout.objects.get()
    assert (payout.creator, payout.amount, payout.next_submission_at) == (kept, Decimal("46000.00"), None)
    assert run.lines.get(creator=dropped).status == LineStatus.DROPPED
    assert payout_runs_dispatch_due() == [run.pk]


@pytest.mark.django_db(transaction=True)
def test_fifty_payouts_go_one_per_cool_down_with_no_refusal_and_finish_within_the_eta(clickpesa, settings):
    # ClickPesa (the simulator): one create-payout per 0.6 s, 20 requests per second for everything.
    simulator = clickpesa(merchant_cooldown=0.6, rate_limit=20, rate_window=1.0)
    # Ours: one create per 0.8 s (a step's own work, a few tenths of a second on a busy test machine,
    # fits inside it) and 15 requests per second, shared through Redis.
    settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS = 0.8
    settings.CLICKPESA_RATE_LIMIT_REQUESTS = 15
    settings.CLICKPESA_RATE_WINDOW_SECONDS = 1.0
    run = _approved_run(50)
    progress = payout_run_progress(run)
    assert progress.total == progress.queued == 50
    eta = progress.eta
    assert progress.summary.startswith("50 payouts, done about ")

    # Meanwhile others call ClickPesa too (pollers, balance checks), in bursts: the same limiter holds them all.
    stop = threading.Event()

    def poll(_: int) -> int:
        calls = 0
        with ClickPesaClient() as client:
            while not stop.is_set():
                for _ in range(5):
                    client.balance()
                    calls += 1
                stop.wait(1.0)
        return calls

    pollers = threading.Thread(target=lambda: run_concurrently(poll, 2, timeout=120))
    pollers.start()
    try:
        _dispatch(run)
    finally:
        stop.set()
        pollers.join(60)

    run.refresh_from_db()
    assert simulator.refusals == []
    assert run.status == PayoutRun.Status.DONE and run.cooldowns == 0
    assert run.finished_at <= eta
    lines = list(run.lines.select_related("payout").order_by("position"))
    assert {line.status for line in lines} == {LineStatus.SUBMITTED}
    submitted = [line.payout.reference for line in lines]
    created = [r.body["orderReference"] for r in simulator.requests if r.path == "/payouts/create-mobile-money-payout"]
    assert created == submitted  # in the run's order, each once
    assert {line.payout.status for line in lines} <= {Payout.Status.PROCESSING, Payout.Status.PAID}


@pytest.mark.django_db(transaction=True)
def test_a_cool_down_answer_pushes_the_whole_queue_back(clickpesa, settings):
    # ClickPesa's cool-down (1 s) is longer than we were told (0.2 s): its answer must hold the queue.
    simulator = clickpesa(merchant_cooldown=1.0)
    settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS = 0.2
    run = _approved_run(3)
    _dispatch(run)
    run.refresh_from_db()
    assert run.status == PayoutRun.Status.DONE
    assert run.cooldowns >= 1
    lines = list(run.lines.select_related("payout").order_by("position"))
    assert all(line.status == LineStatus.SUBMITTED for line in lines)
    created = [r.body["orderReference"] for r in simulator.requests if r.path == "/payouts/create-mobile-money-payout"]
    # Each refused create was sent again, in order; never two in one cool-down after a refusal.
    assert [ref for i, ref in enumerate(created) if i == 0 or created[i - 1] != ref] == [
        line.payout.reference for line in lines
    ]


@pytest.mark.django_db(transaction=True)
def test_only_one_dispatcher_takes_a_turn(clickpesa, settings):
    clickpesa()
    run = _approved_run(2)
    results = run_concurrently(lambda _: payout_run_dispatch_step(run.pk), 4)
    assert sum(r is not None for r in results) == 1
    assert run.lines.filter(status=LineStatus.SUBMITTED).count() == 1


@pytest.mark.django_db
def test_the_run_page_shows_progress_and_an_eta(finance, support, settings):
    settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS = 60
    for _ in range(3):
        earn(CreatorFactory(), Decimal("50000.00"))
    propose = support.post(reverse("admin:revenue_payoutrun_propose"), follow=True)
    run = PayoutRun.objects.get()
    assert propose.status_code == 200
    page = finance.get(reverse("admin:revenue_payoutrun_change", args=[run.pk]))
    text = page.content.decode()
    assert "3 payouts, done about " in text and " EAT" in text
    eta = payout_run_progress(run).eta
    # Three cool-downs of a minute, and the last answer's time (a request's timeout, 15 s)
    assert eta is not None and 190 <= (eta - timezone.now()).total_seconds() <= 196
