"""One rate limiter for every ClickPesa API call, shared by every process through Redis (pyrate-limiter).

ClickPesa allows 120 requests a minute (``CLICKPESA_RATE_LIMIT_REQUESTS`` per
``CLICKPESA_RATE_WINDOW_SECONDS``) from one address for all endpoints together, and one
create-payout per merchant about every ``CLICKPESA_PAYOUT_COOLDOWN_SECONDS``. The client takes
a slot before every request (:func:`acquire_request`, waiting up to ``CLICKPESA_RATE_LIMIT_WAIT_SECONDS``) and a
create-payout slot before every create (:func:`acquire_payout_create`, never waiting); a refusal
is raised as ClickPesa's own error (``RateLimited``, ``CoolDown``) without a request leaving.
A cool-down answer from ClickPesa pauses every create everywhere (:func:`pause_payout_creates`).

The buckets live in Redis at ``CLICKPESA_RATE_LIMIT_REDIS_URL`` (default ``REDIS_URL``); without
one (development) they live in this process. When Redis cannot be reached the limiter fails
safe: requests fall back to this process's own bucket at the full rate (a lone process cannot
exceed the limit; several may, for the outage's length: logged), and creates are refused as a
cool-down, so payouts wait in the queue rather than risk a burst.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings
from pyrate_limiter import AbstractBucket, InMemoryBucket, Limiter, Rate, RateItem, RedisBucket

logger = logging.getLogger(__name__)

_KEY = "clickpesa:limit:{scope}:{name}"


class LimiterUnavailable(Exception):
    """The shared limiter's Redis did not answer."""


@dataclass
class _Limiters:
    """The buckets for one configuration (rebuilt when the settings change, as tests do)."""

    config: tuple[str, int, float, float, str]
    requests: Limiter
    requests_bucket: AbstractBucket
    creates: Limiter
    creates_bucket: AbstractBucket
    local_requests: Limiter
    redis: redis.Redis | None
    pause_key: str
    # False when the configured Redis did not answer: requests are limited per process, creates wait.
    shared: bool = True
    retry_at: float = 0.0
    local_pause_until: float = 0.0


_state: _Limiters | None = None
_state_lock = threading.Lock()


def _config() -> tuple[str, int, float, float, str]:
    # ClickPesa limits one merchant account at one address: the buckets are theirs (as the token is).
    scope = hashlib.sha256(f"{settings.CLICKPESA_BASE_URL.rstrip('/')}\n{settings.CLICKPESA_CLIENT_ID}".encode())
    return (
        str(settings.CLICKPESA_RATE_LIMIT_REDIS_URL),
        int(settings.CLICKPESA_RATE_LIMIT_REQUESTS),
        float(settings.CLICKPESA_RATE_WINDOW_SECONDS),
        float(settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS),
        scope.hexdigest()[:16],
    )


_RETRY_REDIS_SECONDS = 5.0


def _limiters() -> _Limiters:
    global _state
    config = _config()
    with _state_lock:
        stale = _state is not None and not _state.shared and time.monotonic() >= _state.retry_at
        if _state is None or _state.config != config or stale:
            _state = _build(config)
        return _state


def _build(config: tuple[str, int, float, float, str]) -> _Limiters:
    url, per_window, window, cooldown, scope = config
    requests_rate = [Rate(per_window, int(window * 1000))]
    creates_rate = [Rate(1, max(int(cooldown * 1000), 1))]
    local = InMemoryBucket(requests_rate)
    local_creates = InMemoryBucket(creates_rate)
    pause_key = _KEY.format(scope=scope, name="creates-paused-until")
    if not url:
        return _Limiters(
            config, Limiter(local), local, Limiter(local_creates), local_creates, Limiter(local), None, pause_key
        )
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
    try:
        requests_bucket = RedisBucket.init(requests_rate, client, _KEY.format(scope=scope, name="requests"))
        creates_bucket = RedisBucket.init(creates_rate, client, _KEY.format(scope=scope, name="creates"))
    except redis.RedisError as exc:
        logger.warning("ClickPesa rate limiter: Redis unavailable (%s); limiting this process alone", exc)
        return _Limiters(
            config,
            Limiter(local),
            local,
            Limiter(local_creates),
            local_creates,
            Limiter(local),
            None,
            pause_key,
            shared=False,
            retry_at=time.monotonic() + _RETRY_REDIS_SECONDS,
        )
    return _Limiters(
        config,
        Limiter(requests_bucket),
        requests_bucket,
        Limiter(creates_bucket),
        creates_bucket,
        Limiter(local),
        client,
        pause_key,
    )


def acquire_request() -> float:
    """Take a slot for one API request, waiting for one if needed; return the seconds waited.

    Raises :class:`TimeoutError` when none frees up within ``CLICKPESA_RATE_LIMIT_WAIT_SECONDS``.
    """
    state = _limiters()
    started = time.monotonic()
    timeout = settings.CLICKPESA_RATE_LIMIT_WAIT_SECONDS
    try:
        acquired = state.requests.try_acquire("clickpesa", blocking=True, timeout=timeout)
    except redis.RedisError as exc:
        logger.warning("ClickPesa rate limiter: Redis unavailable (%s); limiting this process alone", exc)
        acquired = state.local_requests.try_acquire("clickpesa", blocking=True, timeout=timeout)
    if not acquired:
        raise TimeoutError(f"no ClickPesa request slot within {timeout:g} s")
    return time.monotonic() - started


def payout_create_wait() -> float:
    """Seconds until a create-payout may be sent (0 when one may go now); a Redis outage counts as a full cool-down."""
    if not settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS:
        return 0.0
    state = _limiters()
    if not state.shared:
        return float(settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS)
    try:
        paused = _paused_for(state)
        waiting_ms = state.creates_bucket.waiting(RateItem("clickpesa", int(time.time() * 1000)))
    except redis.RedisError:
        return float(settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS)
    return max(paused, float(waiting_ms) / 1000)  # type: ignore[arg-type]


_CREATE_GRACE_SECONDS = 5.0
"""A create-payout slot freeing within this (or a short cool-down) is waited for: a paced
caller (revenue.runs) comes back one cool-down after its last turn began, and that turn's create
may have left later than the turn began."""


def acquire_payout_create() -> float:
    """Take the create-payout slot, waiting for it if it frees soon; return 0, or the seconds left to
    wait when it does not (nothing taken then). A cool-down of 0 turns the pacing of creates off."""
    if not settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS:
        return 0.0
    state = _limiters()
    if not state.shared:
        logger.warning("ClickPesa rate limiter: Redis unavailable; no payout is created until it is back")
        return float(settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS)
    # A whole cool-down (and a little) when that is short; never more than the grace.
    grace = min(_CREATE_GRACE_SECONDS, float(settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS) + 0.5)
    try:
        paused = _paused_for(state)
        if paused > 0:
            return paused
        if state.creates.try_acquire("clickpesa", blocking=True, timeout=grace):
            return 0.0
        waiting_ms = state.creates_bucket.waiting(RateItem("clickpesa", int(time.time() * 1000)))
    except redis.RedisError as exc:
        logger.warning("ClickPesa rate limiter: Redis unavailable (%s); no payout is created until it is back", exc)
        return float(settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS)
    return max(float(waiting_ms) / 1000, 0.001)  # type: ignore[arg-type]


def pause_payout_creates(seconds: float) -> None:
    """ClickPesa asked us to wait: no create-payout from any process for ``seconds``.

    Not with ``CLICKPESA_PAYOUT_COOLDOWN_SECONDS`` at 0, which turns the pacing of creates off
    (a simulator without a cool-down, the tests' faked ClickPesa).
    """
    if not settings.CLICKPESA_PAYOUT_COOLDOWN_SECONDS:
        return
    state = _limiters()
    until = time.time() + seconds
    try:
        if state.redis is not None:
            state.redis.set(state.pause_key, f"{until:.3f}", px=max(int(seconds * 1000), 1))
        else:
            state.local_pause_until = max(state.local_pause_until, until)
    except redis.RedisError as exc:
        logger.warning("ClickPesa rate limiter: could not record a cool-down (%s)", exc)


def _paused_for(state: _Limiters) -> float:
    if state.redis is not None:
        value = state.redis.get(state.pause_key)
        until = float(value) if value else 0.0
    else:
        until = state.local_pause_until
    return max(until - time.time(), 0.0)


def seconds_text(seconds: float) -> int:
    """Whole seconds to tell a caller to wait (ClickPesa's own cool-down message counts whole seconds)."""
    return max(math.ceil(seconds), 1)
