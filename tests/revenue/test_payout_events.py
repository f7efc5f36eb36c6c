"""What ClickPesa's payout news does to a payout (revenue.payouts): the row lock, events that name
no payout or bring no status we act on, amounts that do not match, and the gateway words.

Webhooks go through the real endpoint, signed; locks are taken on real connections in threads.
"""

import threading
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction

from clickpesa.models import WebhookEvent
from clickpesa.payloads import GatewayStatus
from core.results import Effect
from notifications.models import Notification
from revenue.models import LedgerTransaction, Payout, PayoutStatusChange
from revenue.payouts import payout_lock
from revenue.services import creator_balance, payout_apply_gateway_status
from tests.factories import PayoutFactory, UserFactory
from tests.webhooks import post_webhook, sample_body, use_checksum_key

FEE = Decimal("1180.00")


@pytest.fixture(autouse=True)
def _key(settings):
    use_checksum_key(settings)


def deliver(client, payout_reference: str, amount, sample: str = "payout_initiated_success", **data) -> WebhookEvent:
    body = sample_body(sample, reference=payout_reference, amount=amount, **data)
    response = post_webhook(client, body, endpoint="payouts")
    assert response.status_code == 200, response.content
    return WebhookEvent.objects.get(pk=response.json()["event"])


def finance_alerts() -> list[Notification]:
    return list(Notification.objects.filter(kind=Notification.Kind.FINANCE_ALERT).order_by("id"))


def unchanged(payout: Payout) -> None:
    """The payout is still PENDING with its money in flight and only its reserve in the journal."""
    payout.refresh_from_db()
    assert payout.status == Payout.Status.PENDING
    assert list(payout.ledger_transactions.values_list("kind", flat=True)) == [LedgerTransaction.Kind.PAYOUT_RESERVE]
    assert list(payout.status_changes.values_list("to_status", flat=True)) == [Payout.Status.PENDING]
    assert creator_balance(payout.creator).in_flight == payout.amount


# --- payout_lock ------------------------------------------------------------------------------


class HeldLock:
    """`payout_lock(**lookup)` taken in a transaction on another thread's connection, until `release()`."""

    def __init__(self, **lookup: object) -> None:
        self.lookup = lookup
        self.taken = threading.Event()
        self._release = threading.Event()
        self.found: Payout | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._hold)

    def _hold(self) -> None:
        try:
            with transaction.atomic():
                self.found = payout_lock(**self.lookup)
                self.taken.set()
                self._release.wait(30)
        except BaseException as exc:  # reported by the test, never swallowed
            self.error = exc
            self.taken.set()
        finally:
            connection.close()

    def __enter__(self) -> "HeldLock":
        self.thread.start()
        assert self.taken.wait(30), "the lock was never taken"
        assert self.error is None, self.error
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._release.set()
        self.thread.join(30)
        assert not self.thread.is_alive()


def lock_now(queryset) -> object:
    """Lock the row without waiting, in a transaction of this thread's own connection."""
    with transaction.atomic():
        return queryset.select_for_update(nowait=True).get()


@pytest.mark.django_db(transaction=True)
def test_payout_lock_holds_the_payout_row_until_its_transaction_ends():
    payout = PayoutFactory()
    with HeldLock(pk=payout.pk) as held:
        assert held.found.pk == payout.pk
        with pytest.raises(DatabaseError, match="could not obtain lock"):
            lock_now(Payout.objects.filter(pk=payout.pk))
    assert lock_now(Payout.objects.filter(pk=payout.pk)).pk == payout.pk


@pytest.mark.django_db(transaction=True)
def test_payout_lock_by_reference_locks_the_payout_but_not_its_creator():
    payout = PayoutFactory()
    creator_model = type(payout.creator)
    with HeldLock(reference=payout.reference) as held:
        assert held.found.pk == payout.pk
        assert held.found.creator == payout.creator  # fetched alongside, for the notifications
        with pytest.raises(DatabaseError, match="could not obtain lock"):
            lock_now(Payout.objects.filter(reference=payout.reference))
        assert lock_now(creator_model.objects.filter(pk=payout.creator_id)).pk == payout.creator_id


@pytest.mark.django_db
def test_payout_lock_finds_nothing_for_an_unknown_reference():
    PayoutFactory()
    assert payout_lock(reference="BLNPONOSUCHREF") is None


# --- Events that name no payout, or bring nothing to do ---------------------------------------


@pytest.mark.django_db
def test_a_payout_event_for_a_reference_we_never_issued_is_kept_unmatched(client):
    ours = PayoutFactory()
    event = deliver(client, "BLNPODASHBOARD1", "51180.00")
    assert event.status == WebhookEvent.Status.UNMATCHED
    assert event.detail == "no payout with reference BLNPODASHBOARD1"
    unchanged(ours)


@pytest.mark.parametrize(
    ("word", "detail"),
    [
        ("ON-HOLD", "payout status ON-HOLD has no effect"),
        ("QUEUED", "payout status unknown has no effect"),
    ],
)
@pytest.mark.django_db
def test_a_status_word_we_do_not_act_on_is_ignored_and_moves_nothing(client, word, detail):
    payout = PayoutFactory()
    event = deliver(
        client, payout.reference, payout.amount + FEE, sample="payout_initiated_processing", fee=str(FEE), status=word
    )
    assert (event.status, event.detail) == (WebhookEvent.Status.IGNORED, detail)
    unchanged(payout)
    assert not Notification.objects.filter(recipient=payout.creator, kind=Notification.Kind.PAYOUT_SENT).exists()


@pytest.mark.django_db
def test_the_same_status_twice_is_ignored_the_second_time(client):
    payout = PayoutFactory()
    first = deliver(client, payout.reference, payout.amount + FEE, sample="payout_initiated_processing", fee=str(FEE))
    again = deliver(
        client,
        payout.reference,
        payout.amount + FEE,
        sample="payout_initiated_processing",
        fee=str(FEE),
        updatedAt="2025-09-16T07:00:05.000Z",
    )
    assert (first.status, again.status) == (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED)
    assert again.detail == "payout already PROCESSING"
    assert payout.status_changes.filter(to_status=Payout.Status.PROCESSING).count() == 1


@pytest.mark.parametrize(
    ("event_name", "word", "target"),
    [("PAYOUT COMPLETED", "COMPLETED", Payout.Status.PAID), ("PAYOUT FAILED", "REJECTED", Payout.Status.FAILED)],
)
@pytest.mark.django_db
def test_the_old_services_event_names_are_read_by_their_status(client, event_name, word, target):
    payout = PayoutFactory()
    body = sample_body("payout_initiated_processing", reference=payout.reference, amount=payout.amount, status=word)
    body["event"] = event_name
    assert post_webhook(client, body, endpoint="payouts").json()["status"] == "processed"
    payout.refresh_from_db()
    assert payout.status == target


# --- Amounts that do not match ----------------------------------------------------------------


@pytest.mark.django_db
def test_an_amount_mismatch_flags_the_payout_and_tells_finance_once_per_event(client, finance_user):
    payout = PayoutFactory()
    body = sample_body("payout_initiated_success", reference=payout.reference, amount="999.00", fee="1.00")
    first = post_webhook(client, body, endpoint="payouts").json()
    repeat = post_webhook(client, body, endpoint="payouts").json()
    assert (first["status"], repeat["status"]) == ("processed", "duplicate")

    unchanged(payout)
    payout.refresh_from_db()
    assert payout.needs_review is True
    assert payout.notes.count("ClickPesa reported SUCCESS for TZS 999.00 (fee 1.00)") == 1
    (alert,) = finance_alerts()
    assert alert.recipient == finance_user
    assert alert.subject.endswith(f"Payout {payout.reference}: amount differs")
    assert "No money moved" in alert.body

    other = sample_body("payout_initiated_success", reference=payout.reference, amount="998.00", fee="1.00")
    assert post_webhook(client, other, endpoint="payouts").json()["status"] == "processed"
    assert len(finance_alerts()) == 2
    unchanged(payout)


@pytest.mark.django_db
def test_a_payout_reported_in_another_currency_moves_nothing_and_is_flagged(client, finance_user):
    payout = PayoutFactory()
    event = deliver(client, payout.reference, payout.amount, currency="USD", fee="0.00")
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.detail.startswith("needs review: ClickPesa reported SUCCESS for USD")
    unchanged(payout)
    payout.refresh_from_db()
    assert payout.needs_review is True
    assert len(finance_alerts()) == 1


@pytest.mark.django_db
def test_the_review_flag_stays_when_a_matching_report_then_pays_the_payout(client):
    payout = PayoutFactory()
    deliver(client, payout.reference, "999.00", fee="1.00")
    deliver(client, payout.reference, payout.amount + FEE, fee=str(FEE), updatedAt="2025-09-16T07:00:05.000Z")
    payout.refresh_from_db()
    assert (payout.status, payout.needs_review, payout.gateway_fee) == (Payout.Status.PAID, True, FEE)
    assert creator_balance(payout.creator).paid_out == payout.amount


# --- Gateway words, as reports from any source ------------------------------------------------


@pytest.mark.parametrize(
    ("word", "target"),
    [
        (GatewayStatus.AUTHORIZED, Payout.Status.PROCESSING),
        (GatewayStatus.PENDING, Payout.Status.PROCESSING),
        (GatewayStatus.SETTLED, Payout.Status.PAID),
    ],
)
@pytest.mark.django_db
def test_each_gateway_word_moves_a_pending_payout_to_its_status(word, target):
    payout = PayoutFactory()
    outcome = payout_apply_gateway_status(payout, word, source=PayoutStatusChange.Source.API, gateway_id="PAYX9")
    payout.refresh_from_db()
    assert (outcome.effect, outcome.detail) == (Effect.APPLIED, f"PENDING -> {target}")
    assert (payout.status, payout.gateway_id) == (target, "PAYX9")
    assert payout.status_changes.last().source == PayoutStatusChange.Source.API


@pytest.mark.django_db
def test_a_report_without_a_status_changes_nothing():
    payout = PayoutFactory()
    outcome = payout_apply_gateway_status(payout, None, source="poll", amount=payout.amount)
    assert (outcome.effect, outcome.detail) == (Effect.UNCHANGED, "payout status unknown has no effect")
    unchanged(payout)


@pytest.mark.django_db
def test_the_first_gateway_id_is_kept_when_a_later_report_brings_another():
    payout = PayoutFactory()
    payout_apply_gateway_status(payout, GatewayStatus.PROCESSING, source="webhook", gateway_id="PAYXFIRST")
    payout_apply_gateway_status(payout, GatewayStatus.SUCCESS, source="webhook", gateway_id="PAYXSECOND")
    payout.refresh_from_db()
    assert (payout.status, payout.gateway_id) == (Payout.Status.PAID, "PAYXFIRST")


@pytest.mark.django_db
def test_a_return_keeps_the_reason_in_the_notes_and_the_history_and_names_who_made_it():
    payout = PayoutFactory()
    clerk = UserFactory(is_staff=True)
    payout_apply_gateway_status(
        payout, GatewayStatus.FAILED, source="admin", reason="Invalid beneficiary number", changed_by=clerk
    )
    payout.refresh_from_db()
    assert payout.notes.endswith("FAILED: Invalid beneficiary number")
    assert payout.returned_at is not None
    change = payout.status_changes.last()
    assert (change.from_status, change.to_status, change.source, change.changed_by, change.note) == (
        Payout.Status.PENDING,
        Payout.Status.FAILED,
        "admin",
        clerk,
        "Invalid beneficiary number",
    )


@pytest.mark.django_db
def test_a_return_without_a_reason_says_so():
    payout = PayoutFactory()
    payout_apply_gateway_status(payout, GatewayStatus.REFUNDED, source="webhook")
    payout.refresh_from_db()
    assert payout.notes.endswith("REFUNDED: no reason given")
    returned = Notification.objects.get(recipient=payout.creator, kind=Notification.Kind.PAYOUT_RETURNED)
    assert "could not be completed: ClickPesa could not process it" in returned.body  # the status, in words
