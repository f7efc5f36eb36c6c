"""Which domain function applies which ClickPesa event, registered explicitly by each domain app.

A domain app calls :func:`register` from its ``AppConfig.ready()``::

    registry.register([PAYMENT_RECEIVED, PAYMENT_FAILED], payment_event, parse=parse_payment_event)

``parse`` turns the envelope into the typed data the handler takes, and raises
:class:`~clickpesa.payloads.PayloadError` for input that must be refused (400) before anything
is stored as received. ``handle(event, data)`` runs inside the inbox's transaction with the
event row locked and returns a :class:`core.results.Result`; the inbox maps its effect to the
event's status. Handlers are chosen by event name alone, whichever endpoint the event reached:
ClickPesa sends every product's events to the one URL a merchant configures.

Two more hooks, for what the gateway must not import: :func:`register_subject` (how the admin
finds the payment or payout an event names) and :func:`on_dead` (who is told when an event is
given up).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model

from core.results import Result

from .models import WebhookEvent
from .payloads import Envelope

Handler = Callable[[WebhookEvent, Any], Result]
Parser = Callable[[Envelope], Any]
SubjectFinder = Callable[[str], Model | None]
DeadListener = Callable[[WebhookEvent], None]


@dataclass(frozen=True)
class Registration:
    event_name: str
    handle: Handler
    parse: Parser


_registry: dict[str, Registration] = {}
_subject_finders: list[SubjectFinder] = []
_dead_listeners: list[DeadListener] = []


def normalize_event_name(name: str) -> str:
    """Upper-case with runs of whitespace collapsed, as :func:`~clickpesa.payloads.parse_envelope` does."""
    return " ".join(name.split()).upper()


def register(event_names: Iterable[str], handle: Handler, *, parse: Parser) -> None:
    """Make ``handle`` the handler of ``event_names``, reading their data with ``parse``.

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
        _registry[name] = Registration(name, handle, parse)


def _qualname(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def lookup(event_name: str) -> Registration | None:
    """The registration for an (already normalised) event name, or ``None`` when nobody handles it."""
    return _registry.get(event_name)


def registrations() -> Mapping[str, Registration]:
    """Every registered event name and its registration (read-only)."""
    return MappingProxyType(_registry)


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
