"""The staff home page shows the webhooks acknowledged but not yet settled, and the oldest one's age."""

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import PaymentFactory
from tests.webhooks import broker_down, payment_body, post_webhook, use_checksum_key

HOME = reverse("admin:index")

pytestmark = pytest.mark.django_db


def test_support_sees_the_oldest_unsettled_webhooks_age(support, settings):
    use_checksum_key(settings)
    settings.CLICKPESA_WEBHOOK_SETTLE = "queued"
    with broker_down():
        post_webhook(Client(), payment_body(PaymentFactory()))
        post_webhook(Client(), payment_body(PaymentFactory()))

    with time_machine.travel(timezone.now() + timedelta(minutes=7)):
        response = support.get(HOME)

    settling = response.context["home"]["settling"]
    assert settling.count == 2
    assert settling.oldest_age >= 420
    assert "Webhooks acknowledged, not yet settled" in response.text
    assert f"the oldest for {settling.oldest_age:.0f} s" in response.text


def test_none_waiting_is_said_so(support):
    response = support.get(HOME)

    assert response.context["home"]["settling"].count == 0
    assert "none waiting" in response.text
