"""core.backoff: the one retry schedule of every outbox, 30 s doubling, at most an hour."""

from datetime import timedelta

import pytest

from core.backoff import retry_delay


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(1, 30), (2, 60), (3, 120), (4, 240), (5, 480), (6, 960), (7, 1920)],
)
def test_the_wait_doubles_from_thirty_seconds(attempts, seconds):
    assert retry_delay(attempts) == timedelta(seconds=seconds)


@pytest.mark.parametrize("attempts", [8, 9, 20, 1000])
def test_the_wait_is_capped_at_one_hour(attempts):
    assert retry_delay(attempts) == timedelta(hours=1)


@pytest.mark.parametrize("attempts", [0, -1])
def test_before_any_failed_attempt_the_wait_is_the_first_one(attempts):
    assert retry_delay(attempts) == timedelta(seconds=30)


def test_the_schedule_never_shrinks():
    delays = [retry_delay(n) for n in range(1, 30)]
    assert delays == sorted(delays)
