"""The webhook handler registry: which function applies which ClickPesa event.

Apps register their handlers at import time and import their ``webhooks`` module in
``AppConfig.ready()``::

    @register("PAYMENT RECEIVED", "PAYMENT FAILED", parse=parse_payment_event)
    def payment_event(event: WebhookEvent, envelope: Envelope) -> Outcome: ...

A handler runs inside the receiver's database transaction, with the event row locked; it
returns an :class:`~clickpesa.outcome.Outcome` and raises to have everything rolled back and
retried. Handlers are chosen by event name alone, whichever endpoint the event reached:
ClickPesa sends every product's events to the one URL a merchant configures.

``parse`` reads the typed data out of the envelope and raises
:class:`~clickpesa.payloads.PayloadError` for input that must be refused (400) before anything
is processed. Without one, the event family's parser applies (``PAYMENT ...`` ->
``parse_payment``, ``PAYOUT ...`` -> ``parse_payout``, ``DEPOSIT ...`` -> ``parse_deposit``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from .payloads import Envelope, parse_deposit, parse_payment, parse_payout

if TYPE_CHECKING:
    from .models import WebhookEvent
    from .outcome import Outcome

Handler = Callable[["WebhookEvent", Envelope], "Outcome"]
Parser = Callable[[Envelope], Any]

_FAMILY_PARSERS: dict[str, Parser] = {
    "PAYMENT": lambda envelope: parse_payment(envelope.data),
    "PAYOUT": lambda envelope: parse_payout(envelope.data),
    "DEPOSIT": lambda envelope: parse_deposit(envelope.data),
}


@dataclass(frozen=True)
class Registration:
    event_name: str
    handler: Handler
    parse: Parser | None


_registry: dict[str, Registration] = {}


def normalize_event_name(name: str) -> str:
    """Upper-case with runs of whitespace collapsed, as :func:`~clickpesa.payloads.parse_envelope` does."""
    return " ".join(name.split()).upper()


def register(*event_names: str, parse: Parser | None = None) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``event_names``.

    Registering the same function again is harmless (a module imported twice); giving an
    event a second, different handler raises ``ImproperlyConfigured`` at start-up.
    """
    if not event_names:
        raise ImproperlyConfigured("register() needs at least one event name.")

    def decorator(handler: Handler) -> Handler:
        for raw_name in event_names:
            name = normalize_event_name(raw_name)
            if not name:
                raise ImproperlyConfigured("A webhook event name cannot be empty.")
            family = name.split(" ", 1)[0]
            registration = Registration(name, handler, parse or _FAMILY_PARSERS.get(family))
            existing = _registry.get(name)
            if existing is not None and _qualname(existing.handler) != _qualname(handler):
                raise ImproperlyConfigured(
                    f"Webhook event {name!r} already has a handler ({_qualname(existing.handler)}); "
                    f"{_qualname(handler)} cannot also handle it."
                )
            _registry[name] = registration
        return handler

    return decorator


def _qualname(handler: Handler) -> str:
    return f"{handler.__module__}.{handler.__qualname__}"


def lookup(event_name: str) -> Registration | None:
    """The registration for an (already normalised) event name, or ``None`` when nobody handles it."""
    return _registry.get(event_name)


def registrations() -> Mapping[str, Registration]:
    """Every registered event name and its registration (read-only)."""
    return MappingProxyType(_registry)
