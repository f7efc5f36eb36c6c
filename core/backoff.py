"""The one retry schedule and claim lease of every outbox (webhook events, payouts, notifications)."""

from datetime import timedelta

CLAIM_LEASE = timedelta(minutes=5)
"""How long a claim holds a row before another worker may take it over: far beyond one attempt."""


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: 30 s, 60 s, 120 s, ... at most one hour."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(attempts - 1, 0)))
