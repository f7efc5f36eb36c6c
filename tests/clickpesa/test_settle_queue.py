"""The settler's tasks travel in their own queue beside the default one (blinno.celery)."""

import uuid

import pytest
import redis
from django.conf import settings

from blinno.celery import app as celery_app
from blinno.celery import settle_queue
from clickpesa.tasks import webhook_event_retry, webhook_settle
from notifications.tasks import notifications_sweep
from tests.celery_worker import DEFAULT_BROKER_URL, publishing_to


@pytest.fixture
def broker():
    """A Redis database and a queue name of this test's own, emptied afterwards."""
    url = DEFAULT_BROKER_URL
    client = redis.Redis.from_url(url)
    queue = f"test-{uuid.uuid4().hex[:12]}"
    saved = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = queue
    try:
        with publishing_to(url):
            yield client, queue
    finally:
        celery_app.conf.task_default_queue = saved
        client.delete(queue, settle_queue(queue), *(k for k in client.keys(f"_kombu.binding*.{queue}*")))


def test_settling_goes_to_the_settle_queue_and_everything_else_to_the_default_one(broker):
    client, queue = broker
    webhook_settle.apply_async()
    webhook_event_retry.apply_async(args=[1], countdown=0)
    notifications_sweep.apply_async()
    assert client.llen(settle_queue(queue)) == 2
    assert client.llen(queue) == 1


def test_a_worker_started_without_queues_takes_both():
    default = settings.CELERY_TASK_DEFAULT_QUEUE
    assert [q.name for q in celery_app.conf.task_queues] == [default, settle_queue(default)]
