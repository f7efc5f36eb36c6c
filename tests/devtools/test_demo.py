"""manage.py demo (make demo): the whole money loop against the simulator, end to end, ledger clean."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from api.models import IdempotencyRecord
from clickpesa.models import WebhookEvent
from notifications.models import StorefrontEvent
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
    # Driven through the storefront API, whose events reached the demo's storefront, signed.
    people = {"demo-asha", "demo-juma", "demo-neema", "demo-rehema", "demo-omari", "demo-baraka", "demo-zoe"}
    assert set(User.objects.exclude(external_id=None).values_list("external_id", flat=True)) == people
    # One POST each: 5 payout methods, 7 orders, 8 payments (one paid at the second attempt), 5 payouts.
    assert IdempotencyRecord.objects.count() == 5 + 7 + 8 + 5
    assert set(StorefrontEvent.objects.values_list("status", flat=True)) == {StorefrontEvent.Status.DELIVERED}
    assert "payout.paid" in out.getvalue() and "failed signature" not in out.getvalue()


def test_the_demo_refuses_to_run_with_debug_off_unless_the_simulator_is_enabled(settings):
    settings.DEBUG = False
    settings.CLICKPESA_SIMULATOR_ENABLED = False

    with pytest.raises(CommandError, match="for development only"):
        call_command("demo")
