"""`manage.py check --deploy` refuses production settings that would fail quietly: email that is
never delivered, an open /metrics, forwarded headers believed from nobody or anybody."""

import pytest
from django.core.checks import Error, run_checks

SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.fixture(autouse=True)
def _production(settings):
    settings.DEBUG = False
    settings.EMAIL_BACKEND = SMTP
    settings.EMAIL_ALLOW_UNDELIVERED = False
    settings.MONITORING_METRICS_TOKEN = "scrape-token"
    settings.TRUSTED_PROXY_COUNT = 0
    settings.TRUSTED_PROXY_ADDRESSES = []


def errors(prefix: str) -> list[tuple[type, str]]:
    found = run_checks(include_deployment_checks=True)
    return [(type(m), m.id) for m in found if m.id and m.id.startswith(prefix) and m.is_serious()]


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.locmem.EmailBackend",
        "django.core.mail.backends.dummy.EmailBackend",
        "django.core.mail.backends.filebased.EmailBackend",
    ],
)
def test_an_email_backend_that_delivers_nothing_is_an_error_in_production(settings, backend):
    settings.EMAIL_BACKEND = backend
    assert errors("notifications.") == [(Error, "notifications.E001")]


def test_the_default_email_backend_is_such_a_backend(settings):
    """What a deployment gets when it sets nothing (blinno/settings.py's default)."""
    from blinno import settings as project_settings

    settings.EMAIL_BACKEND = project_settings.env.str("UNSET_FOR_THIS_TEST", default=project_settings.EMAIL_BACKEND)
    assert settings.EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend"
    assert errors("notifications.") == [(Error, "notifications.E001")]


def test_smtp_passes(settings):
    assert errors("notifications.") == []


def test_an_undelivering_backend_chosen_explicitly_passes(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    settings.EMAIL_ALLOW_UNDELIVERED = True
    assert errors("notifications.") == []


def test_development_may_print_emails(settings):
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert errors("notifications.") == []


def test_an_empty_metrics_token_is_an_error_in_production(settings):
    settings.MONITORING_METRICS_TOKEN = ""
    assert errors("monitoring.") == [(Error, "monitoring.E001")]


def test_a_metrics_token_passes_and_development_needs_none(settings):
    assert errors("monitoring.") == []
    settings.DEBUG = True
    settings.MONITORING_METRICS_TOKEN = ""
    assert errors("monitoring.") == []


def test_proxies_counted_but_not_named_is_an_error(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    assert errors("core.") == [(Error, "core.E001")]
    settings.TRUSTED_PROXY_ADDRESSES = ["10.0.0.0/8"]
    assert errors("core.") == []


def test_a_proxy_address_that_is_not_one_is_an_error(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.TRUSTED_PROXY_ADDRESSES = ["10.0.0.0/8", "proxy.internal"]
    assert errors("core.") == [(Error, "core.E002")]
