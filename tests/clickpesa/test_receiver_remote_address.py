"""The stored remote address honours TRUSTED_PROXY_COUNT and never trusts the sender's own entries."""

import pytest

from clickpesa.models import WebhookEvent
from tests.factories import PaymentFactory
from tests.webhooks import payment_body, post_webhook, use_checksum_key

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)
    settings.TRUSTED_PROXY_ADDRESSES = ["10.0.0.0/8"]  # the proxies in front (the socket is 10.0.0.2)


def test_a_peer_that_is_not_a_named_proxy_cannot_forward_an_address(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert _remote_addr(client, forwarded="196.41.50.7", socket="203.0.113.9") == "203.0.113.9"


def _remote_addr(client, *, forwarded: str | None, socket: str = "10.0.0.2") -> str | None:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else None
    post_webhook(client, payment_body(PaymentFactory()), headers=headers, remote_addr=socket)
    return WebhookEvent.objects.get().remote_addr


def test_without_proxies_it_is_the_socket_address(client, settings):
    settings.TRUSTED_PROXY_COUNT = 0

    assert _remote_addr(client, forwarded="203.0.113.9") == "10.0.0.2"


def test_behind_one_proxy_it_is_the_rightmost_forwarded_entry(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert _remote_addr(client, forwarded="1.1.1.1, 196.41.50.7") == "196.41.50.7"


def test_behind_two_proxies_it_skips_the_inner_proxy(client, settings):
    settings.TRUSTED_PROXY_COUNT = 2

    assert _remote_addr(client, forwarded="6.6.6.6, 196.41.50.7, 10.0.0.1") == "196.41.50.7"


def test_it_never_trusts_the_client_supplied_leftmost_entry(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert _remote_addr(client, forwarded="127.0.0.1,196.41.50.7") == "196.41.50.7"


def test_a_chain_shorter_than_the_proxies_falls_back_to_the_socket_address(client, settings):
    """Fewer entries than proxies: the request did not come through them, so the socket is the sender."""
    settings.TRUSTED_PROXY_COUNT = 2

    assert _remote_addr(client, forwarded="6.6.6.6") == "10.0.0.2"


def test_it_stores_no_address_when_the_chosen_entry_is_not_an_ip(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert _remote_addr(client, forwarded="1.1.1.1, not-an-address") is None


def test_it_keeps_the_forwarded_chain_as_sent(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    _remote_addr(client, forwarded="6.6.6.6, 196.41.50.7")

    assert WebhookEvent.objects.get().headers["x-forwarded-for"] == "6.6.6.6, 196.41.50.7"


def test_it_understands_ipv6(client, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    assert _remote_addr(client, forwarded="2001:db8::1") == "2001:db8::1"
