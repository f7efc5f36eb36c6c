"""Work queues: named sets of rows that wait for a person, counted on the staff home page.

A queue is declared once (backoffice.queues holds the list) with the query that finds its
rows; the home page counts it and links to its model's changelist filtered by ``?queue=<key>``
(core.admin_filters.QueueFilter), so the count and the list can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Model, QuerySet
from django.urls import reverse

from core.users import User

COUNT_CAP = 10_000
"""A queue is counted up to this many rows ("10,000+" past it): a count never scans millions."""


@dataclass(frozen=True)
class WorkQueue:
    """Rows of one model that need a person, for the staff groups (``roles``) whose work they are."""

    key: str
    title: str
    meaning: str
    """What the rows are and what to do with them, in a sentence (shown under the count)."""
    model: type[Model]
    rows: Callable[[], QuerySet]
    roles: tuple[str, ...]
    """Staff groups whose home page shows the queue (superusers see every queue)."""

    def count(self) -> int:
        """How many rows wait, up to ``COUNT_CAP + 1``."""
        return self.rows().order_by()[: COUNT_CAP + 1].count()

    def url(self) -> str:
        meta = self.model._meta
        return f"{reverse(f'admin:{meta.app_label}_{meta.model_name}_changelist')}?queue={self.key}"

    def permission(self) -> str:
        meta = self.model._meta
        return f"{meta.app_label}.view_{meta.model_name}"


_QUEUES: dict[str, WorkQueue] = {}


def register(*queues: WorkQueue) -> None:
    """Make queues known to the home page and the changelist filters (from an AppConfig.ready)."""
    for queue in queues:
        _QUEUES[queue.key] = queue


def queue(key: str) -> WorkQueue | None:
    return _QUEUES.get(key)


def queues_of(model: type[Model]) -> list[WorkQueue]:
    """The queues whose rows are ``model``'s, in declaration order."""
    return [q for q in _QUEUES.values() if q.model is model]


def queues_for(user: User, groups: set[str]) -> list[WorkQueue]:
    """The queues a staff member's home page shows: their groups' work, on models they may view."""
    return [
        q
        for q in _QUEUES.values()
        if (user.is_superuser or groups.intersection(q.roles)) and user.has_perm(q.permission())
    ]
