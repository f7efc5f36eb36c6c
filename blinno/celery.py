"""The Celery application; task modules are found in each installed app's tasks.py.

Two queues: the default one (e-mails, storefront events, payouts, sweeps) and the settler's,
named after it with ``.settle``. Settling webhooks is money every buyer and creator waits for;
in its own queue a settle nudge never waits behind a backlog of e-mails, and a worker of its
own can take it (``make settler``). A worker started without ``--queues`` consumes both, the
settle queue first: with the transport's "priority" order (settings), it takes the default
queue's tasks only while no settle task waits. Under a burst the money settles first and the
e-mails follow: a sale's three e-mails are about 60 % of a worker's time per sale (measured in
process), and taking the queues in turn let them slow the settling as much.
"""

import os
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinno.settings")

SETTLER_TASKS = frozenset({"clickpesa.tasks.webhook_settle", "clickpesa.tasks.webhook_event_retry"})
"""The inbox's settling work: batches (nudged and swept) and the per-event retries of failures."""


def settle_queue(default_queue: str) -> str:
    """The settler's queue beside ``default_queue`` (each deployment or test run keeps its own pair)."""
    return f"{default_queue}.settle"


def _queue(name: str) -> Queue:
    # Celery's own shape for a queue it creates from a name: a direct exchange of the same name.
    return Queue(name, Exchange(name, type="direct"), routing_key=name)


def route(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **rest: Any) -> dict[str, str] | None:
    """Send the settler's tasks to the settle queue of the queue this process publishes to now."""
    if name in SETTLER_TASKS:
        return {"queue": settle_queue(app.conf.task_default_queue)}
    return None


app = Celery("blinno")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_routes = (route,)
app.conf.task_queues = (_queue(settle_queue(app.conf.task_default_queue)), _queue(app.conf.task_default_queue))
app.autodiscover_tasks()
