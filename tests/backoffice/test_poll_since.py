"""poll_since: ask ClickPesa (the simulator, every webhook lost) about everything not final since a moment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from backoffice.models import StatementLine
from backoffice.reconciliation import poll_since, statement_fetch
from clickpesa.models import WebhookEvent
from devtools.simulator import ClickPesaSimulator
from payments.models import Order, Payment
from payments.services import payment_start
from revenue.models import Payout
from revenue.services import creator_balance
from revenue.submission import payout_submit
from tests.factories import OrderFactory, PaymentFactory, PayoutFactory, capture
from tests.staff import paid_payout

PHONE = "255754000111"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def simulator(settings):
    """ClickPesa, simulated, dropping every webhook: only asking brings the news."""
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    settings.CLICKPESA_CLIENT_ID = "sim-client"
    settings.CLICKPESA_API_KEY = "sim-key"
    settings.CLICKPESA_CHECKSUM_KEY = "poll-since-checksum-key"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "since"}}
    cache.clear()
    simulator = ClickPesaSimulator(drop_rate=1.0).start()
    settings.CLICKPESA_BASE_URL = simulator.url
    yield simulator
    simulator.stop()


@pytest.fixture
def today():
    return timezone.now() - timedelta(hours=1)


def in_flight(simulator: ClickPesaSimulator, outcome: str = "success") -> Payout:
    """A payout ClickPesa accepted and finished as ``outcome``; we heard nothing after its creation."""
    payout = PayoutFactory(submitted=False)
    simulator.plan(payout.reference, outcome)
    payout_submit(payout.pk)
    simulator.deliver_pending()
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PROCESSING
    return payout


def pushed(simulator: ClickPesaSimulator, capture_callbacks, outcome: str = "success") -> Payment:
    """A payment whose USSD push ClickPesa accepted and that ended as ``outcome``, unheard."""
    order = OrderFactory()
    with capture_callbacks(execute=True):
        payment = payment_start(order, phone_number=PHONE)
        simulator.plan(payment.reference, outcome)  # before the push leaves, after commit
    simulator.deliver_pending()
    payment.refresh_from_db()
    assert (payment.status, payment.push_sent_at is not None) == (Payment.Status.PENDING, True)
    return payment


def asked(simulator: ClickPesaSimulator) -> list[str]:
    """The references ClickPesa was asked about, in order."""
    return [r.path.rsplit("/", 1)[-1] for r in simulator.requests if r.method == "GET" and r.path.count("/") == 2]


def test_a_payout_whose_webhooks_were_lost_is_paid(simulator, today):
    payout = in_flight(simulator)

    summary = poll_since(today)

    payout.refresh_from_db()
    assert (payout.status, payout.gateway_fee) == (Payout.Status.PAID, simulator.payouts[payout.reference].fee)
    event = WebhookEvent.objects.get(order_reference=payout.reference)
    assert (event.source, event.event_name, event.status) == (
        WebhookEvent.Source.POLL,
        "PAYOUT INITIATED",
        WebhookEvent.Status.PROCESSED,
    )
    assert [(r.kind, r.reference, r.outcome) for r in summary.results] == [("payout", payout.reference, "PROCESSED")]


def test_a_payment_whose_webhook_was_lost_is_completed(simulator, today, django_capture_on_commit_callbacks):
    payment = pushed(simulator, django_capture_on_commit_callbacks)

    summary = poll_since(today)

    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    assert payment.order.status == Order.Status.PAID
    assert summary.counts == {"PROCESSED": 1}


def test_a_payment_clickpesa_failed_is_failed(simulator, today, django_capture_on_commit_callbacks):
    payment = pushed(simulator, django_capture_on_commit_callbacks, outcome="failed")

    poll_since(today)

    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert payment.order.status == Order.Status.PAYMENT_FAILED
    assert WebhookEvent.objects.get(order_reference=payment.reference).event_name == "PAYMENT FAILED"


def test_a_payout_clickpesa_failed_gives_the_creator_the_money_back(simulator, today):
    payout = in_flight(simulator, outcome="failed")
    assert creator_balance(payout.creator).available == 0

    poll_since(today)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.FAILED
    assert creator_balance(payout.creator).available == payout.amount


def test_a_refunded_payout_arrives_as_payout_refunded(simulator, today):
    payout = in_flight(simulator, outcome="refunded")

    poll_since(today)

    payout.refresh_from_db()
    assert payout.status == Payout.Status.REFUNDED
    assert WebhookEvent.objects.get(order_reference=payout.reference).event_name == "PAYOUT REFUNDED"


def test_a_payment_clickpesa_never_heard_of_stays_pending(simulator, today):
    payment = PaymentFactory()  # no phone number: never pushed

    summary = poll_since(today)

    payment.refresh_from_db()
    assert (payment.status, payment.last_polled_at is not None) == (Payment.Status.PENDING, True)
    (result,) = summary.results
    assert (result.kind, result.outcome, result.detail) == (
        "payment",
        "unknown",
        "ClickPesa has no record of this payment",
    )
    assert not WebhookEvent.objects.exists()


def test_payments_are_asked_about_before_payouts_each_oldest_first(simulator, today):
    first_payout = in_flight(simulator)
    first_payment, second_payment = PaymentFactory(), PaymentFactory()
    second_payout = in_flight(simulator)

    summary = poll_since(today)

    assert [(r.kind, r.reference) for r in summary.results] == [
        ("payment", first_payment.reference),
        ("payment", second_payment.reference),
        ("payout", first_payout.reference),
        ("payout", second_payout.reference),
    ]


def test_what_was_created_before_the_moment_is_left_alone(simulator):
    payout = in_flight(simulator)

    summary = poll_since(timezone.now() + timedelta(seconds=1))

    payout.refresh_from_db()
    assert (summary.results, payout.status) == ([], Payout.Status.PROCESSING)
    assert payout.reference not in asked(simulator)


def test_what_is_final_or_never_sent_is_not_asked_about(simulator, today):
    paid, unsent, captured = paid_payout(), PayoutFactory(submitted=False), capture(PaymentFactory())

    summary = poll_since(today)

    # The only payment among them is the captured one; the payouts' sales were captured too.
    assert summary.results == []
    assert not {paid.reference, unsent.reference, captured.reference} & set(asked(simulator))


def test_one_failed_query_does_not_stop_the_others(simulator, today):
    failing, other = in_flight(simulator), in_flight(simulator)
    simulator.fail_next(f"/payouts/{failing.reference}", status=503, message="Service Unavailable")

    summary = poll_since(today)

    failing.refresh_from_db()
    other.refresh_from_db()
    assert (failing.status, other.status) == (Payout.Status.PROCESSING, Payout.Status.PAID)
    (error,) = summary.errors
    assert (error.reference, error.outcome) == (failing.reference, "error")
    assert "Service Unavailable" in error.detail
    assert summary.counts == {"error": 1, "PROCESSED": 1}


def test_asking_again_changes_nothing_more(simulator, today):
    payout = in_flight(simulator)
    poll_since(today)

    again = poll_since(today)

    assert again.results == []
    assert WebhookEvent.objects.filter(order_reference=payout.reference).count() == 1
    assert asked(simulator).count(payout.reference) == 1


def test_after_polling_clickpesas_statement_matches_our_books(simulator, today, finance_user):
    payout = in_flight(simulator)
    poll_since(today)

    day = timezone.localdate()
    statement = statement_fetch(
        currency="TZS", period_start=day - timedelta(days=1), period_end=day + timedelta(days=1), by=finance_user
    )

    ours = statement.lines.filter(order_reference=payout.reference)
    assert sorted(ours.values_list("line_type", "outcome")) == [
        ("Fee - Payout", StatementLine.Outcome.MATCHED),
        ("Payout", StatementLine.Outcome.MATCHED),
    ]


@pytest.mark.parametrize("outcome", ["refunded", "reversed"])
def test_a_payout_returned_before_it_was_paid_reconciles_with_clickpesas_statement(
    simulator, today, finance_user, outcome
):
    payout = in_flight(simulator, outcome=outcome)
    poll_since(today)
    payout.refresh_from_db()
    assert payout.status in (Payout.Status.REFUNDED, Payout.Status.REVERSED)

    day = timezone.localdate()
    statement = statement_fetch(
        currency="TZS", period_start=day - timedelta(days=1), period_end=day + timedelta(days=1), by=finance_user
    )

    ours = statement.lines.filter(order_reference=payout.reference)
    assert ours.count() == 3
    assert set(ours.values_list("outcome", flat=True)) == {StatementLine.Outcome.MATCHED}
