"""Fixtures for the notification tests; the real Celery worker comes from tests.celery_worker."""

import socket

import pytest

from tests.celery_worker import celery_broker_url, celery_publisher, celery_worker  # noqa: F401


@pytest.fixture
def smtp_down(settings):
    """Email goes to an SMTP server that is not there: every send fails with a refused connection."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_TIMEOUT = 2
