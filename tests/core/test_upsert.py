"""core.upsert: INSERT ... ON CONFLICT ... RETURNING and many-row UPDATEs, against real tables and unique indexes."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from clickpesa.models import WebhookEvent
from core.upsert import (
    insert_all_on_conflict,
    insert_all_on_conflict_values,
    insert_on_conflict,
    insert_rows,
    update_all,
)
from notifications.models import Notification

pytestmark = pytest.mark.django_db

SKIP_KNOWN = "ON CONFLICT (dedupe_key) DO NOTHING"
COUNT_AGAIN = "ON CONFLICT (dedupe_key) DO UPDATE SET attempts = notifications_notification.attempts + 1"
# The inbox's own clause: the partial unique index one_webhook_event_per_body is the arbiter.
EVENT_COUNTED = (
    "ON CONFLICT (dedupe_key) WHERE NOT (status = 'REJECTED') AND NOT (dedupe_key = '') "
    "DO UPDATE SET duplicate_count = clickpesa_webhookevent.duplicate_count + 1"
)
FROZEN = datetime(2026, 5, 14, 7, 30, tzinfo=UTC)


def note(key: str, subject: str = "Your payout is on its way") -> Notification:
    return Notification(
        kind=Notification.Kind.PAYOUT_SENT, subject=subject, body="TZS 46,000.00 to M-Pesa", dedupe_key=key
    )


def event(key: str, **fields) -> WebhookEvent:
    return WebhookEvent(
        endpoint=WebhookEvent.Endpoint.PAYOUTS, body='{"event": "PAYOUT INITIATED"}', dedupe_key=key, **fields
    )


def test_it_returns_the_inserted_row_as_a_new_instance_with_its_id():
    unsaved = note("payout:1:sent")
    stored = insert_on_conflict(unsaved, on_conflict=SKIP_KNOWN)
    assert stored is not None and stored is not unsaved
    assert stored.pk == Notification.objects.get(dedupe_key="payout:1:sent").pk
    assert unsaved.pk is None


def test_it_writes_every_column_of_the_instance():
    stored = insert_on_conflict(note("payout:2:sent", subject="Sent"), on_conflict=SKIP_KNOWN)
    row = Notification.objects.get(pk=stored.pk)
    assert (row.kind, row.subject, row.body, row.status, row.attempts, row.recipient_id) == (
        Notification.Kind.PAYOUT_SENT,
        "Sent",
        "TZS 46,000.00 to M-Pesa",
        Notification.Status.PENDING,
        0,
        None,
    )


def test_the_returned_row_carries_auto_now_add_and_default_times():
    with time_machine.travel(FROZEN, tick=False):
        stored = insert_on_conflict(note("payout:3:sent"), on_conflict=SKIP_KNOWN)
    assert stored.created_at == FROZEN
    assert stored.next_attempt_at == FROZEN
    assert stored.created_at.tzinfo is not None


def test_a_conflict_with_do_nothing_returns_none_and_leaves_the_first_row_alone():
    first = insert_on_conflict(note("payout:4:sent", subject="First"), on_conflict=SKIP_KNOWN)
    assert insert_on_conflict(note("payout:4:sent", subject="Second"), on_conflict=SKIP_KNOWN) is None
    first.refresh_from_db()
    assert first.subject == "First"
    assert Notification.objects.filter(dedupe_key="payout:4:sent").count() == 1


def test_a_conflict_with_do_update_returns_the_existing_row_as_updated():
    first = insert_on_conflict(note("payout:5:sent"), on_conflict=COUNT_AGAIN)
    again = insert_on_conflict(note("payout:5:sent", subject="ignored"), on_conflict=COUNT_AGAIN)
    assert again.pk == first.pk
    assert (again.attempts, again.subject) == (1, "Your payout is on its way")
    first.refresh_from_db()
    assert first.attempts == 1


def test_json_columns_come_back_decoded():
    headers = {"user-agent": "blinno poller", "x-hops": [1, 2], "nested": {"ok": True}}
    stored = insert_on_conflict(event("a" * 64, headers=headers), on_conflict=EVENT_COUNTED)
    assert stored.headers == headers
    assert isinstance(stored.headers, dict)


def test_a_partial_unique_index_is_the_arbiter_with_its_predicate():
    with time_machine.travel(FROZEN, tick=False):
        first = insert_on_conflict(event("b" * 64), on_conflict=EVENT_COUNTED)
    again = insert_on_conflict(event("b" * 64), on_conflict=EVENT_COUNTED)
    assert (again.pk, again.duplicate_count, again.received_at) == (first.pk, 1, FROZEN)
    assert WebhookEvent.objects.count() == 1


def test_rows_outside_the_partial_index_never_conflict():
    """A REJECTED delivery is outside one_webhook_event_per_body: the same body is stored again."""
    rejected = event("c" * 64, status=WebhookEvent.Status.REJECTED)
    stored = insert_on_conflict(rejected, on_conflict=EVENT_COUNTED)
    live = insert_on_conflict(event("c" * 64), on_conflict=EVENT_COUNTED)
    assert stored.pk != live.pk
    assert live.duplicate_count == 0
    assert WebhookEvent.objects.filter(dedupe_key="c" * 64).count() == 2


def test_many_rows_go_in_one_statement():
    rows = [note(f"sale:{i}") for i in range(5)]
    with CaptureQueriesContext(connection) as queries:
        stored = insert_all_on_conflict(rows, on_conflict=SKIP_KNOWN)
    assert len(queries) == 1
    assert queries[0]["sql"].startswith('INSERT INTO "notifications_notification"')
    assert sorted(n.dedupe_key for n in stored) == [f"sale:{i}" for i in range(5)]
    assert Notification.objects.count() == 5


def test_with_do_nothing_the_answer_lists_only_the_rows_this_statement_wrote():
    insert_on_conflict(note("sale:1"), on_conflict=SKIP_KNOWN)
    stored = insert_all_on_conflict([note("sale:0"), note("sale:1"), note("sale:2")], on_conflict=SKIP_KNOWN)
    assert sorted(n.dedupe_key for n in stored) == ["sale:0", "sale:2"]
    assert all(n.pk for n in stored)
    assert Notification.objects.count() == 3


def test_two_rows_with_one_key_in_one_statement_write_one_row():
    stored = insert_all_on_conflict([note("sale:9", "one"), note("sale:9", "two")], on_conflict=SKIP_KNOWN)
    assert [n.subject for n in stored] == ["one"]
    assert Notification.objects.get(dedupe_key="sale:9").subject == "one"


def test_with_do_update_every_row_comes_back():
    insert_on_conflict(note("sale:1"), on_conflict=COUNT_AGAIN)
    stored = insert_all_on_conflict([note("sale:0"), note("sale:1")], on_conflict=COUNT_AGAIN)
    assert {n.dedupe_key: n.attempts for n in stored} == {"sale:0": 0, "sale:1": 1}


def test_nothing_to_insert_sends_no_statement():
    with CaptureQueriesContext(connection) as queries:
        assert insert_all_on_conflict([], on_conflict=SKIP_KNOWN) == []
    assert len(queries) == 0


def test_values_travel_as_parameters_not_as_sql():
    hostile = "'); DROP TABLE notifications_notification; --"
    stored = insert_on_conflict(note("sale:q", subject=hostile), on_conflict=SKIP_KNOWN)
    assert Notification.objects.get(pk=stored.pk).subject == hostile


def test_the_text_of_a_many_row_statement_does_not_depend_on_the_count():
    """Arrays, one per column: psycopg converts the text once and PostgreSQL prepares it once."""
    sent: list[str] = []

    def record(execute, sql, params, many, context):
        sent.append(sql)  # the text as psycopg gets it, before the values are bound
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        insert_all_on_conflict([note(f"two:{i}") for i in range(2)], on_conflict=SKIP_KNOWN)
        insert_all_on_conflict([note(f"seven:{i}") for i in range(7)], on_conflict=SKIP_KNOWN)
        update_all(list(Notification.objects.all()[:2]), ["subject"])
        update_all(list(Notification.objects.all()[:7]), ["subject"])
    writes = [sql for sql in sent if not sql.startswith("SELECT")]
    assert len(writes) == 4
    assert writes[0] == writes[1] and writes[2] == writes[3]


def test_many_rows_keep_json_nulls_and_bytes_per_row():
    rows = [
        event("d" * 64, headers={"x-hops": [1, 2]}, processed_at=None),
        event("e" * 64, headers={}, processed_at=FROZEN),
    ]
    stored = {e.dedupe_key: e for e in insert_all_on_conflict(rows, on_conflict=EVENT_COUNTED)}
    assert stored["d" * 64].headers == {"x-hops": [1, 2]} and stored["d" * 64].processed_at is None
    assert stored["e" * 64].headers == {} and stored["e" * 64].processed_at == FROZEN
    notes = [note("pdf:1"), note("pdf:2")]
    notes[0].attachment, notes[0].attachment_name = b"%PDF-1.4\x00\xff", "statement.pdf"
    insert_all_on_conflict(notes, on_conflict=SKIP_KNOWN)
    assert bytes(Notification.objects.get(dedupe_key="pdf:1").attachment) == b"%PDF-1.4\x00\xff"
    assert Notification.objects.get(dedupe_key="pdf:2").attachment is None


def test_update_all_writes_each_row_its_own_values_and_touches_no_other():
    rows = insert_all_on_conflict([note(f"u:{i}") for i in range(3)], on_conflict=SKIP_KNOWN)
    bystander = insert_on_conflict(note("u:bystander"), on_conflict=SKIP_KNOWN)
    for i, row in enumerate(rows):
        row.subject, row.attempts, row.sent_at = f"subject {i}", i + 1, FROZEN if i else None
    with CaptureQueriesContext(connection) as queries:
        assert update_all(rows, ["subject", "attempts", "sent_at"]) == 3
    assert len(queries) == 1
    found = {n.dedupe_key: (n.subject, n.attempts, n.sent_at) for n in Notification.objects.all()}
    assert found == {
        "u:0": ("subject 0", 1, None),
        "u:1": ("subject 1", 2, FROZEN),
        "u:2": ("subject 2", 3, FROZEN),
        "u:bystander": (bystander.subject, 0, None),
    }


def test_update_all_and_insert_rows_with_nothing_send_no_statement():
    with CaptureQueriesContext(connection) as queries:
        assert update_all([], ["subject"]) == 0
        insert_rows(Notification, ("subject", "dedupe_key"), [])
    assert len(queries) == 0


NOTE_FIELDS = tuple(f for f in Notification._meta.concrete_fields if not f.primary_key)


def note_row(key: str, subject: str = "Sent", recipient_id: int | None = None) -> tuple:
    """A notification's values, every column named (insert_rows stamps no auto_now_add field)."""
    row = note(key, subject=subject)
    row.recipient_id, row.created_at, row.updated_at = recipient_id, FROZEN, FROZEN
    return tuple(getattr(row, f.attname) for f in NOTE_FIELDS)


def test_insert_rows_writes_each_row_its_values_in_one_statement():
    names = tuple(f.name for f in NOTE_FIELDS)
    with CaptureQueriesContext(connection) as queries:
        insert_rows(Notification, names, [note_row(f"rows:{i}", subject=f"s{i}") for i in range(4)])
    assert len(queries) == 1
    found = Notification.objects.order_by("dedupe_key")
    assert [(n.dedupe_key, n.subject, n.created_at, n.status) for n in found] == [
        (f"rows:{i}", f"s{i}", FROZEN, Notification.Status.PENDING) for i in range(4)
    ]


def test_insert_rows_takes_a_foreign_key_as_the_related_id():
    recipient = User.objects.create_user(username="rows-recipient", password="x" * 12)
    insert_rows(Notification, tuple(f.name for f in NOTE_FIELDS), [note_row("fk:1", recipient_id=recipient.pk)])
    assert Notification.objects.get(dedupe_key="fk:1").recipient == recipient


def test_a_row_of_the_wrong_length_is_refused_before_any_statement():
    with CaptureQueriesContext(connection) as queries, pytest.raises(ValueError):
        insert_rows(Notification, ("subject", "dedupe_key"), [("s", "short:1"), ("s",)])
    assert len(queries) == 0


def test_values_come_back_as_tuples_and_conflicts_are_missing():
    insert_on_conflict(note("v:1"), on_conflict=SKIP_KNOWN)
    written = insert_all_on_conflict_values(
        [note("v:0"), note("v:1"), note("v:2")], on_conflict=SKIP_KNOWN, returning="dedupe_key, status"
    )
    assert sorted(written) == [("v:0", "PENDING"), ("v:2", "PENDING")]
    assert insert_all_on_conflict_values([], on_conflict=SKIP_KNOWN, returning="id") == []
