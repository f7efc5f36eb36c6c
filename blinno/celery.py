"""The Celery application; task modules are found in each installed app's tasks.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinno.settings")

app = Celery("blinno")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
