"""manage.py clickpesa_reconcile --since DATE: ask ClickPesa about everything not final since then."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

from clickpesa.models import WebhookEvent
from devtools.simulator import ClickPesaSimulator
from revenue.models import Payout
from revenue.submission import payout_submit
from tests.factories import PaymentFactory, PayoutFactory


@pytest.fixture(autouse=True)
def simulator(settings):
    """ClickPesa, simulated, dropping every webhook: only the command can bring the news."""
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    settings.CLICKPESA_CLIENT_ID = "sim-client"
    settings.CLICKPESA_API_KEY = "sim-key"
    settings.CLICKPESA_CHECKSUM_KEY = "reconcile-checksum-key"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "rec"}}
    cache.clear()
    simulator = ClickPesaSimulator(drop_rate=1.0).start()
    settings.CLICKPESA_BASE_URL = simulator.url
    yield simulator
    simulator.stop()


def _in_flight(simulator: ClickPesaSimulator) -> Payout:
    payout = PayoutFactory(submitted=False)
    payout_submit(payout.pk)
    simulator.deliver_pending()  # paid at ClickPesa; the webhooks are lost
    return payout


def _reconcile(since: str) -> str:
    out = StringIO()
    call_command("clickpesa_reconcile", "--since", since, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_applies_clickpesas_answer_for_everything_not_final_since_the_date(simulator):
    payout = _in_flight(simulator)
    payment = PaymentFactory()  # never pushed: ClickPesa has no record of it

    output = _reconcile(f"{timezone.localdate():%Y-%m-%d}")

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PAID
    assert WebhookEvent.objects.get().source == WebhookEvent.Source.POLL
    assert f"payout  {payout.reference}" in output
    assert f"payment {payment.reference}" in output
    assert output.endswith(f"Asked ClickPesa about 2 since {timezone.localdate():%Y-%m-%d}: 1 PROCESSED, 1 unknown.\n")


@pytest.mark.django_db
def test_it_leaves_out_what_was_created_before_the_date(simulator):
    payout = _in_flight(simulator)

    with time_machine.travel(timezone.now() + timedelta(days=1)):
        output = _reconcile(f"{timezone.localdate():%Y-%m-%d}")

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PROCESSING
    assert "Asked ClickPesa about 0" in output


@pytest.mark.django_db
def test_it_fails_when_a_query_fails(simulator):
    payout = _in_flight(simulator)
    simulator.fail_next(f"/payouts/{payout.reference}", status=503, message="Service Unavailable")

    with pytest.raises(CommandError, match="1 query failed"):
        _reconcile("2026-01-01")

    payout.refresh_from_db()
    assert payout.status == Payout.Status.PROCESSING


def test_it_refuses_a_date_it_cannot_read():
    with pytest.raises(CommandError, match="--since must be a date like 2026-01-01"):
        call_command("clickpesa_reconcile", "--since", "last week")
