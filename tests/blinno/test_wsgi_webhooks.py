"""blinno.wsgi: ClickPesa's webhook URLs go through WEBHOOK_MIDDLEWARE only, every other URL through
MIDDLEWARE. Called as gunicorn calls it (a WSGI environ), against the real database."""

from __future__ import annotations

import io
import json
from typing import Any
from wsgiref.util import setup_testing_defaults

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from blinno import wsgi
from clickpesa.checksum import sign
from clickpesa.models import WebhookEvent
from tests.clickpesa.samples import SAMPLE_KEY
from tests.factories import PaymentFactory
from tests.webhooks import WEBHOOK_PATHS, encode, payment_body, use_checksum_key


def _call(path: str, *, method: str = "POST", body: bytes = b"") -> tuple[str, dict[str, str], bytes]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    setup_testing_defaults(environ)
    answered: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        answered.update(status=status, headers=dict(headers))

    response = wsgi.application(environ, start_response)
    try:
        content = b"".join(response)
    finally:
        response.close()  # type: ignore[attr-defined]  # Django's response: request_finished
    return answered["status"], answered["headers"], content


def test_the_webhook_middleware_is_a_part_of_middleware_in_its_order():
    positions = [settings.MIDDLEWARE.index(path) for path in wsgi.WEBHOOK_MIDDLEWARE]
    assert positions == sorted(positions)


def test_the_webhook_paths_are_the_urls_clickpesa_posts_to():
    assert frozenset(WEBHOOK_PATHS.values()) == wsgi.WEBHOOK_PATHS


@pytest.mark.django_db(transaction=True)  # the handler closes and reopens connections as a server's does
def test_a_webhook_is_received_without_the_middleware_that_serves_people(settings):
    use_checksum_key(settings)
    payment = PaymentFactory()

    status, headers, content = _call(WEBHOOK_PATHS["payments"], body=encode(sign(payment_body(payment), SAMPLE_KEY)))

    event = WebhookEvent.objects.get()
    answer = "accepted" if settings.CLICKPESA_WEBHOOK_SETTLE == "queued" else "processed"
    assert (status, json.loads(content)) == ("200 OK", {"status": answer, "event": event.pk})
    assert headers["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware ran
    # No session, language, CSRF or frame middleware: no cookie, no Vary, no X-Frame-Options.
    assert not {"Set-Cookie", "Vary", "X-Frame-Options"} & set(headers)


@pytest.mark.django_db(transaction=True)
def test_a_delivery_on_a_connection_the_database_dropped_is_stored_on_a_new_one(settings):
    """The webhook handler skips Django's connection check; the receiver's statement finds the drop itself."""
    use_checksum_key(settings)
    payment = PaymentFactory()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (dropped,) = cursor.fetchone()
    params = connection.get_connection_params()
    with psycopg.connect(
        **{k: params[k] for k in ("dbname", "user", "host", "port", "password") if params.get(k)}
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [dropped])

    status, _, content = _call(WEBHOOK_PATHS["payments"], body=encode(sign(payment_body(payment), SAMPLE_KEY)))

    assert status == "200 OK", content
    event = WebhookEvent.objects.get()
    assert (event.duplicate_count, json.loads(content)["event"]) == (0, event.pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone() != (dropped,)


@pytest.mark.django_db(transaction=True)
def test_a_refused_webhook_is_answered_and_kept_through_the_same_handler(settings):
    use_checksum_key(settings)

    status, _, content = _call(WEBHOOK_PATHS["payouts"], body=b'{"event": "PAYOUT INITIATED"')

    event = WebhookEvent.objects.get()
    assert status.startswith("400")
    assert json.loads(content)["event"] == event.pk
    assert event.status == WebhookEvent.Status.REJECTED
    assert _call(WEBHOOK_PATHS["payouts"], method="GET")[0].startswith("405")


@pytest.mark.django_db(transaction=True)
def test_every_other_url_passes_the_whole_middleware():
    _, headers, _ = _call("/healthz", method="GET")  # 200 or 503, as the broker here is up or not

    assert headers["X-Frame-Options"] == "DENY"
    assert "Accept-Language" in headers["Vary"]
