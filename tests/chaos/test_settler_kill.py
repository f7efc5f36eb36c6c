"""SIGKILL the settler mid-batch: nothing of the batch is left half-done, and the sweep settles it.

Webhooks are acknowledged (queued settling) and settled by a real worker (tests.celery_worker).
A fault in PostgreSQL holds the batch inside its notifications insert (a trigger that sleeps);
the worker is killed there. PostgreSQL notices the lost client (``client_connection_check_interval``)
and rolls the batch's one transaction back: payments PENDING, no ledger rows, every event
RECEIVED. Beat's sweep (the ``webhook_settle`` task) then settles each event exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from clickpesa.checksum import sign
from clickpesa.models import WebhookEvent
from notifications.models import Notification
from payments.models import Payment
from revenue.ledger import ledger_audit
from revenue.models import LedgerEntry, LedgerTransaction
from revenue.services import creator_balance
from tests.celery_worker import CeleryWorker, celery_broker_url, celery_publisher, celery_worker, wait_for  # noqa: F401
from tests.factories import PaymentFactory
from tests.webhooks import WEBHOOK_PATHS, encode, payment_body, use_checksum_key

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PAYMENTS = 6


@pytest.fixture
def worker(celery_worker: CeleryWorker, celery_publisher) -> CeleryWorker:  # noqa: F811
    # A killed client is noticed within 0.2 s even while its backend sleeps in the fault.
    celery_worker.env["PGOPTIONS"] = "-c client_connection_check_interval=200"
    celery_worker.restart()
    yield celery_worker
    celery_worker.env.clear()


@contextmanager
def slow_inserts(table: str) -> Iterator[None]:
    """Make every INSERT into ``table`` sleep a minute in PostgreSQL until the block ends."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION test_slow() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$"
        )
        cursor.execute(f"CREATE TRIGGER test_slow BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION test_slow()")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS test_slow ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS test_slow()")


def _sleeping_backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'"
        )
        return cursor.fetchone()[0]


def test_a_settler_killed_mid_batch_leaves_nothing_half_done_and_the_sweep_settles_the_batch(settings, worker):
    use_checksum_key(settings)
    settings.CLICKPESA_WEBHOOK_SETTLE = "queued"
    payments = [PaymentFactory() for _ in range(PAYMENTS)]
    client = Client()

    with slow_inserts("notifications_notification"):
        for payment in payments:
            # Straight to the endpoint: the answer is the acknowledgement, not the settled outcome.
            response = client.post(
                WEBHOOK_PATHS["payments"],
                data=encode(sign(payment_body(payment), settings.CLICKPESA_CHECKSUM_KEY)),
                content_type="application/json",
            )
            assert response.json()["status"] == "accepted"
        wait_for(_sleeping_backends, what="the settler's batch to reach its notifications")
        worker.kill()
        wait_for(lambda: not _sleeping_backends(), what="PostgreSQL to roll the killed settler's batch back")

    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.RECEIVED}
    assert set(Payment.objects.values_list("status", flat=True)) == {Payment.Status.PENDING}
    assert not LedgerTransaction.objects.exists() and not LedgerEntry.objects.exists()
    assert not Notification.objects.exists()

    worker.purge()  # the nudges still queued: only the sweep is left to settle
    worker.start()
    worker._control.send_task("clickpesa.tasks.webhook_settle", queue=worker.queue)

    wait_for(
        lambda: set(WebhookEvent.objects.values_list("status", flat=True)) == {WebhookEvent.Status.PROCESSED},
        what="the sweep to settle the batch",
    )
    assert set(WebhookEvent.objects.values_list("attempts", flat=True)) == {1}
    assert LedgerTransaction.objects.filter(kind=LedgerTransaction.Kind.PAYMENT_CAPTURE).count() == PAYMENTS
    assert set(Payment.objects.values_list("status", flat=True)) == {Payment.Status.COMPLETED}
    for payment in payments:
        assert creator_balance(payment.order.lines.get().creator).available == Decimal("9200.00")
    assert Notification.objects.count() == 2 * PAYMENTS
    assert ledger_audit(record=False).ok
