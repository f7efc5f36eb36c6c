"""Which domain function applies which ClickPesa event, registered explicitly from ``AppConfig.ready``.

``parse`` turns an envelope into the typed data its handler takes (raising ``PayloadError`` for a
body to refuse with 400); ``handle(event, data)`` runs in the inbox's transaction and returns a
:class:`core.results.Result`; ``settle_many`` does the common cases of many events at once.
Two hooks keep the gateway from importing the domain:
:func:`register_subject` (the admin finds our row by reference) and :func:`on_dead`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model

from core.results import Result

from .models import WebhookEvent
from .payloads import Envelope

Handler = Callable[[WebhookEvent, Any], Result]
BatchHandler = Callable[[Sequence[tuple[WebhookEvent, Any]]], Mapping[int, Result]]
Parser = Callable[[Envelope], Any]
SubjectFinder = Callable[[str], Model | None]
DeadListener = Callable[[WebhookEvent], None]


@dataclass(frozen=True)
class Registration:
    event_name: str
    handle: Handler
    parse: Parser
    settle_many: BatchHandler | None = None


_registry: dict[str, Registration] = {}
_subject_finders: list[SubjectFinder] = []
_dead_listeners: list[DeadListener] = []


def normalize_event_name(name: str) -> str:
    """Upper-case with runs of whitespace collapsed, as :func:`~clickpesa.payloads.parse_envelope` does."""
    return " ".join(name.split()).upper()


def register(
    event_names: Iterable[str], handle: Handler, *, parse: Parser, settle_many: BatchHandler | None = None
) -> None:
    """Make ``handle`` the handler of ``event_names``, reading their data with ``parse``.

    ``settle_many(items)`` (optional) settles many ``(event, data)`` pairs in the settler's
    transaction (clickpesa.inbox.settle_batch) and returns the results of those it settled,
    by event id; the ones it leaves out go through ``handle``, one transaction each.

    Registering the same function again is harmless (``ready()`` may run twice in tests);
    giving an event a second, different handler raises ``ImproperlyConfigured`` at start-up.
    """
    names = [normalize_event_name(name) for name in event_names]
    if not names or not all(names):
        raise ImproperlyConfigured("register() needs non-empty event names.")
    for name in names:
        existing = _registry.get(name)
        if existing is not None and _qualname(existing.handle) != _qualname(handle):
            raise ImproperlyConfigured(
                f"Webhook event {name!r} already has a handler ({_qualname(existing.handle)}); "
                f"{_qualname(handle)} cannot also handle it."
            )
        _registry[name] = Registration(name, handle, parse, settle_many)


def _qualname(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def lookup(event_name: str) -> Registration | None:
    """The registration for an (already normalised) event name, or ``None`` when nobody handles it."""
    return _registry.get(event_name)


def register_subject(finder: SubjectFinder) -> None:
    """Add a way to find our row (a payment, a payout, a deposit) by a ClickPesa reference."""
    if finder not in _subject_finders:
        _subject_finders.append(finder)


def find_subject(reference: str) -> Model | None:
    """Our row with this reference, asking each registered finder in turn; ``None`` when nobody has it."""
    for finder in _subject_finders:
        found = finder(reference)
        if found is not None:
            return found
    return None


def on_dead(listener: DeadListener) -> None:
    """Call ``listener(event)`` inside the transaction that marks an event DEAD."""
    if listener not in _dead_listeners:
        _dead_listeners.append(listener)


def dead_listeners() -> tuple[DeadListener, ...]:
    return tuple(_dead_listeners)
