"""manage.py demo (make demo): the whole money loop against the simulator, end to end, ledger clean."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from clickpesa.models import WebhookEvent
from payments.models import Payment
from revenue.ledger import ledger_audit
from revenue.models import Payout


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_demo_runs_the_whole_loop_and_leaves_the_ledger_clean(settings):
    settings.CLICKPESA_SIMULATOR_ENABLED = True  # the test settings run with DEBUG off
    out = StringIO()

    call_command("demo", stdout=out)

    assert out.getvalue().rstrip().endswith("Ledger clean: every balance equals the sum of its entries.")
    assert "our gateway cash moved" in out.getvalue()
    assert ledger_audit(record=False).ok is True
    assert sorted(Payout.objects.values_list("status", flat=True)) == sorted(
        ["PAID", "PAID", "PAID", "REVERSED", "REFUNDED", "FAILED"]
    )
    assert Payment.objects.filter(status=Payment.Status.COMPLETED).count() == 7
    assert WebhookEvent.objects.filter(source=WebhookEvent.Source.POLL, status="PROCESSED").count() == 3
    assert not WebhookEvent.objects.filter(status__in=["FAILED", "DEAD", "REJECTED"]).exists()


def test_the_demo_refuses_to_run_with_debug_off_unless_the_simulator_is_enabled(settings):
    settings.DEBUG = False
    settings.CLICKPESA_SIMULATOR_ENABLED = False

    with pytest.raises(CommandError, match="for development only"):
        call_command("demo")
