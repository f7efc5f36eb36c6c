"""SIGKILL the Celery worker mid-task: notifications are sent once, payouts are submitted once.

A real worker subprocess on Redis (database 12 of the local server, its own queue) and the
test database. The kill lands where the test holds the worker:

- in a notification's send, by a test email backend that pauses (``tests.chaos.mail``),
  either before the mail server accepts the message or after;
- in a payout's submission, by a ClickPesa simulator that holds its answer to one call.

A task killed with its worker is not redelivered (Redis keeps it unacknowledged for an hour):
recovery is the application's, by its sweepers, run here as Celery beat would run them once
their grace period has passed (the test moves the claim back by that period).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.db.models import F
from django.test import Client

from clickpesa.models import WebhookEvent
from devtools.simulator import ClickPesaSimulator
from notifications.delivery import CLAIM_GRACE
from notifications.delivery import SWEEP_AFTER as NOTIFICATIONS_SWEEP_AFTER
from notifications.models import Notification
from notifications.tasks import notifications_sweep
from revenue.models import LedgerTransaction, Payout
from revenue.services import creator_balance
from revenue.submission import CLAIM_LEASE, SWEEP_AFTER
from revenue.tasks import payouts_submit_sweep
from tests.celery_worker import CeleryWorker, celery_publisher, celery_worker, wait_for  # noqa: F401
from tests.chaos.mail import sent_emails
from tests.factories import PaymentFactory, PayoutFactory
from tests.webhooks import payment_body, post_webhook, use_checksum_key

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

KEY = "chaos-checksum-key"
PREVIEW = "/payouts/preview-mobile-money-payout"
CREATE = "/payouts/create-mobile-money-payout"
SLOW_EMAIL = {"EMAIL_BACKEND": "tests.chaos.mail.EmailBackend", "CHAOS_EMAIL_PAUSE_SECONDS": "60"}


@pytest.fixture(scope="module")
def celery_broker_url() -> str:
    return "redis://127.0.0.1:6379/12"


@pytest.fixture
def worker(celery_worker: CeleryWorker, celery_publisher) -> CeleryWorker:  # noqa: F811
    """The module's worker; each test restarts it with the environment it needs."""
    celery_worker.env.clear()
    return celery_worker


def _status(notification: Notification) -> str:
    notification.refresh_from_db()
    return notification.status


def _kill_mid_send(worker: CeleryWorker, settings, *, pause: str) -> tuple[Notification, Notification]:
    """Capture a payment (a sale notice and a receipt to send); kill the worker inside the first send."""
    use_checksum_key(settings, KEY)
    worker.env.update(SLOW_EMAIL, CHAOS_EMAIL_PAUSE=pause)
    worker.restart(kill=True)
    payment = PaymentFactory()

    assert post_webhook(Client(), payment_body(payment), key=KEY).json()["status"] == "processed"

    # The message's rows are claimed together and sent in id order: the first is the one being sent.
    claimed = wait_for(
        lambda: Notification.objects.filter(status=Notification.Status.SENDING).order_by("pk").first(),
        what="a send to start",
    )
    if pause == "after":
        wait_for(lambda: sent_emails(worker.emails()), what="the mail backend to accept the message")
    worker.kill()
    worker.env.update(CHAOS_EMAIL_PAUSE_SECONDS="0")
    worker.start()
    other = Notification.objects.exclude(pk=claimed.pk).get()
    return claimed, other


def _sweep_after_the_grace_period() -> None:
    """What beat's sweep does once the dead worker's claim is older than CLAIM_GRACE.

    A webhook's notifications travel in one message and are claimed together, so the rows after
    the one being sent are SENDING under the dead worker's claim too, and come back with it.
    Rows still PENDING are made as overdue as the sweep wants them (SWEEP_AFTER).
    """
    Notification.objects.filter(status=Notification.Status.SENDING).update(
        claimed_at=F("claimed_at") - CLAIM_GRACE - timedelta(minutes=1)
    )
    Notification.objects.filter(status=Notification.Status.PENDING).update(
        next_attempt_at=F("next_attempt_at") - NOTIFICATIONS_SWEEP_AFTER - timedelta(minutes=1)
    )
    notifications_sweep.delay()


def test_a_worker_killed_before_the_mail_server_took_the_message_sends_each_notification_once(worker, settings):
    claimed, other = _kill_mid_send(worker, settings, pause="before")

    # Both rows were in the killed worker's message and claim: one mid-send, the other not reached.
    assert (_status(claimed), _status(other)) == (Notification.Status.SENDING, Notification.Status.SENDING)

    _sweep_after_the_grace_period()

    wait_for(lambda: _status(claimed) == Notification.Status.SENT, what="the sweeper to resend the lost one")
    wait_for(lambda: _status(other) == Notification.Status.SENT, what="the sweeper to send the other")
    assert sent_emails(worker.emails()) == {(claimed.email, claimed.subject): 1, (other.email, other.subject): 1}
    assert (claimed.attempts, other.attempts) == (2, 2)
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_CAPTURE).count() == 1


def test_a_worker_killed_after_the_mail_server_took_the_message_sends_it_twice(worker, settings):
    """The documented at-least-once window (notifications.services): accepted by the mail server, not yet SENT.

    Nothing can tell the new owner that the message left: the row is sent again, once. Every
    other notification is still sent exactly once.
    """
    claimed, other = _kill_mid_send(worker, settings, pause="after")

    _sweep_after_the_grace_period()

    wait_for(lambda: _status(claimed) == Notification.Status.SENT, what="the sweeper to resend the lost one")
    wait_for(lambda: _status(other) == Notification.Status.SENT, what="the sweeper to send the other")
    assert sent_emails(worker.emails()) == {(claimed.email, claimed.subject): 2, (other.email, other.subject): 1}
    assert Notification.objects.filter(status=Notification.Status.SENT).count() == 2


class HoldingSimulator(ClickPesaSimulator):
    """A ClickPesa simulator that holds its answer to the first call to ``hold_path`` until released.

    With ``applied`` the call is carried out before the hold (ClickPesa created the payout and the
    answer is lost with the caller); without, only after (the caller died before it got through).
    """

    def __init__(self, *, hold_path: str, applied: bool, **knobs) -> None:
        super().__init__(**knobs)
        self.hold_path = hold_path
        self.applied = applied
        self.holding = threading.Event()
        self.released = threading.Event()

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes):
        if urlsplit(target).path != self.hold_path or self.holding.is_set():
            return super().handle(method, target, headers, raw)
        answer = super().handle(method, target, headers, raw) if self.applied else None
        self.holding.set()
        self.released.wait(60)
        return answer if self.applied else super().handle(method, target, headers, raw)

    def creates(self, reference: str) -> int:
        return sum(1 for r in self.requests if r.path == CREATE and (r.body or {}).get("orderReference") == reference)


@pytest.mark.parametrize(
    ("hold_path", "applied"),
    [(CREATE, True), (PREVIEW, False)],
    ids=["while-clickpesa-creates-it", "before-the-create-is-sent"],
)
def test_a_worker_killed_while_submitting_a_payout_never_submits_it_twice(worker, settings, hold_path, applied):
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    simulator = HoldingSimulator(
        hold_path=hold_path, applied=applied, key=KEY, client_id="chaos-client", api_key="chaos-key"
    ).start()
    try:
        worker.env.update(
            CLICKPESA_BASE_URL=simulator.url,
            CLICKPESA_CLIENT_ID="chaos-client",
            CLICKPESA_API_KEY="chaos-key",
            CLICKPESA_CHECKSUM_KEY=KEY,
            REDIS_URL="",  # the token cache in the worker's memory, not shared with other runs
        )
        worker.restart(kill=True)
        payout = PayoutFactory(submitted=False)  # the reserve commits; its submission task goes to the worker

        wait_for(simulator.holding.is_set, what=f"the worker to call {hold_path}")
        worker.kill()
        simulator.released.set()
        worker.start()
        payout.refresh_from_db()
        assert (payout.status, payout.submitted_at, payout.submission_attempts) == (Payout.Status.PENDING, None, 1)

        # The dead worker's claim runs out; beat's sweeper submits the payout again.
        Payout.objects.filter(pk=payout.pk).update(
            next_submission_at=F("next_submission_at") - CLAIM_LEASE - SWEEP_AFTER - timedelta(seconds=1)
        )
        payouts_submit_sweep.delay()
        wait_for(lambda: Payout.objects.get(pk=payout.pk).submitted_at, what="the sweeper to submit the payout")
    finally:
        simulator.released.set()
        simulator.stop()

    payout.refresh_from_db()
    assert simulator.creates(payout.reference) == 1
    assert list(simulator.payouts) == [payout.reference]
    assert payout.gateway_id == simulator.payouts[payout.reference].id
    assert (payout.status, payout.submission_attempts) == (Payout.Status.PROCESSING, 2)
    moves = LedgerTransaction.objects.filter(payout=payout).values_list("kind", flat=True)
    assert list(moves) == [LedgerTransaction.Kind.PAYOUT_RESERVE]
    assert creator_balance(payout.creator).in_flight == payout.amount
    assert not WebhookEvent.objects.filter(status=WebhookEvent.Status.FAILED).exists()
