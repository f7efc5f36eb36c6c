"""What a handler made of an event: the status the inbox row ends in, and why."""

from typing import NamedTuple

from .models import WebhookEvent

Status = WebhookEvent.Status


class Outcome(NamedTuple):
    status: str
    detail: str = ""

    @property
    def applied(self) -> bool:
        """True when the event changed something."""
        return self.status == Status.PROCESSED

    @classmethod
    def processed(cls, detail: str = "") -> "Outcome":
        return cls(Status.PROCESSED, detail)

    @classmethod
    def ignored(cls, detail: str) -> "Outcome":
        return cls(Status.IGNORED, detail)

    @classmethod
    def stale(cls, detail: str) -> "Outcome":
        return cls(Status.STALE, detail)

    @classmethod
    def unmatched(cls, detail: str) -> "Outcome":
        return cls(Status.UNMATCHED, detail)
