"""core.results: what a domain service made of a request, and whether it changed something."""

import pytest

from clickpesa.inbox import STATUS_OF_EFFECT
from clickpesa.models import WebhookEvent
from core.results import Effect, Result


@pytest.mark.parametrize(
    ("result", "effect", "detail"),
    [
        (Result.done(), Effect.APPLIED, ""),
        (Result.done("payout PAID"), Effect.APPLIED, "payout PAID"),
        (Result.unchanged("already PAID"), Effect.UNCHANGED, "already PAID"),
        (Result.stale("payout is REVERSED"), Effect.STALE, "payout is REVERSED"),
        (Result.not_found("no payout BLNPO1"), Effect.NOT_FOUND, "no payout BLNPO1"),
    ],
)
def test_each_constructor_gives_its_effect_and_detail(result, effect, detail):
    assert (result.effect, result.detail) == (effect, detail)


def test_only_a_done_result_is_applied():
    assert Result.done().applied
    assert not Result.unchanged("x").applied
    assert not Result.stale("x").applied
    assert not Result.not_found("x").applied


def test_applied_follows_the_effect_however_the_result_was_built():
    assert Result(Effect.APPLIED).applied
    assert not Result(Effect.STALE, "late").applied


def test_results_compare_by_effect_and_detail():
    assert Result.done("a") == Result(Effect.APPLIED, "a")
    assert Result.done("a") != Result.done("b")
    assert Result.stale("a") != Result.unchanged("a")


def test_a_result_unpacks_as_effect_and_detail():
    effect, detail = Result.stale("too late")
    assert (effect, detail) == (Effect.STALE, "too late")


def test_the_inbox_has_an_event_status_for_every_effect():
    """A handler may return any effect; the webhook inbox must know what each means for the event."""
    assert {effect: STATUS_OF_EFFECT[effect] for effect in Effect} == {
        Effect.APPLIED: WebhookEvent.Status.PROCESSED,
        Effect.UNCHANGED: WebhookEvent.Status.IGNORED,
        Effect.STALE: WebhookEvent.Status.STALE,
        Effect.NOT_FOUND: WebhookEvent.Status.UNMATCHED,
    }
