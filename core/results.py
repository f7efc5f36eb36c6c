"""What a domain service made of a request to change something, in words any caller understands.

Webhook handlers return one; the inbox (clickpesa) maps its kind to the event's status, and
staff actions report its detail.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class Effect(Enum):
    APPLIED = "applied"
    """Something changed."""
    UNCHANGED = "unchanged"
    """Nothing to do: the change was already made, or means nothing here."""
    STALE = "stale"
    """Too late: the row has moved past the state this change applies to."""
    NOT_FOUND = "not_found"
    """No row of ours has the reference."""


class Result(NamedTuple):
    effect: Effect
    detail: str = ""

    @property
    def applied(self) -> bool:
        return self.effect is Effect.APPLIED

    @classmethod
    def done(cls, detail: str = "") -> Result:
        return cls(Effect.APPLIED, detail)

    @classmethod
    def unchanged(cls, detail: str) -> Result:
        return cls(Effect.UNCHANGED, detail)

    @classmethod
    def stale(cls, detail: str) -> Result:
        return cls(Effect.STALE, detail)

    @classmethod
    def not_found(cls, detail: str) -> Result:
        return cls(Effect.NOT_FOUND, detail)
