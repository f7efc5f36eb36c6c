"""manage.py clickpesa_send: sign a sample and POST it to a running server over real HTTP."""

import pytest
from django.core.management import CommandError, call_command

from clickpesa.models import WebhookEvent
from payments.models import Payment
from tests.factories import PaymentFactory
from tests.webhooks import use_checksum_key


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


@pytest.mark.django_db(transaction=True)
def test_it_signs_a_sample_and_posts_it_to_a_running_server(live_server, capsys):
    payment = PaymentFactory()

    call_command(
        "clickpesa_send",
        "payment_received",
        "--reference",
        payment.reference,
        "--amount",
        str(payment.amount),
        "--url",
        live_server.url,
    )

    payment.refresh_from_db()
    assert payment.status == Payment.Status.COMPLETED
    event = WebhookEvent.objects.get()
    assert event.headers["user-agent"] == "clickpesa_send"
    assert f'200 {{"status": "processed", "event": {event.pk}}}' in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_it_reports_a_refused_webhook(live_server):
    payment = PaymentFactory()

    with pytest.raises(CommandError, match="answered 401"):
        call_command(
            "clickpesa_send", "payment_failed", "--reference", payment.reference, "--url", live_server.url, "--key", "x"
        )

    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING


def test_it_names_the_samples_when_one_is_unknown():
    with pytest.raises(CommandError, match=r"No sample 'payment_teleported'\. Samples: deposit_received, "):
        call_command("clickpesa_send", "payment_teleported")


def test_it_refuses_an_amount_for_a_sample_without_one():
    with pytest.raises(CommandError, match="carries no amount"):
        call_command("clickpesa_send", "payment_failed", "--amount", "100")
