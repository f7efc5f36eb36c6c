"""core.notes: notes on a row are appended with a local time stamp (zone named), never replaced."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import time_machine

from core.notes import append_note

DAR = ZoneInfo("Africa/Dar_es_Salaam")


@time_machine.travel(datetime(2026, 5, 14, 7, 5, 42, tzinfo=UTC), tick=False)
def test_the_first_note_is_stamped_with_the_time():
    assert append_note("", "Requested by fiona") == "[2026-05-14 10:05 EAT] Requested by fiona"


def test_appending_keeps_earlier_notes_in_order():
    with time_machine.travel(datetime(2026, 5, 14, 7, 5, tzinfo=UTC), tick=False):
        notes = append_note("", "Requested")
    with time_machine.travel(datetime(2026, 5, 15, 9, 30, tzinfo=UTC), tick=False):
        notes = append_note(notes, "ClickPesa says FAILED: wallet not registered")
    assert notes.splitlines() == [
        "[2026-05-14 10:05 EAT] Requested",
        "[2026-05-15 12:30 EAT] ClickPesa says FAILED: wallet not registered",
    ]


@time_machine.travel(datetime(2026, 5, 14, 23, 30, tzinfo=DAR), tick=False)
def test_the_stamp_is_in_dar_es_salaam_time_with_the_zone_named():
    """20:30 UTC is 23:30 in Dar es Salaam, and the stamp says EAT."""
    assert append_note("", "late").startswith("[2026-05-14 23:30 EAT]")


@time_machine.travel(datetime(2026, 5, 14, 7, 5, tzinfo=UTC), tick=False)
def test_earlier_text_written_by_hand_is_kept_as_is():
    existing = "Line one\nLine two"
    assert append_note(existing, "third") == "Line one\nLine two\n[2026-05-14 10:05 EAT] third"


@time_machine.travel(datetime(2026, 5, 14, 7, 5, tzinfo=UTC), tick=False)
def test_a_multi_line_note_is_kept_whole_under_one_stamp():
    assert append_note("", "first\nsecond") == "[2026-05-14 10:05 EAT] first\nsecond"
