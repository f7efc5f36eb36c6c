"""core.http: the sender's address behind TRUSTED_PROXY_COUNT proxies, believed only from TRUSTED_PROXY_ADDRESSES."""

import pytest
from django.test import RequestFactory

from core.http import client_address, is_trusted_proxy

SENDER = "198.51.100.7"
SPOOFED = "203.0.113.66"
PROXY = "10.0.0.2"


def request(remote_addr: str | None = PROXY, forwarded: str | None = None):
    extra = {}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    req = RequestFactory().post("/api/payments/webhook", **extra)
    if remote_addr is None:
        del req.META["REMOTE_ADDR"]
    else:
        req.META["REMOTE_ADDR"] = remote_addr
    return req


@pytest.fixture
def proxies(settings):
    settings.TRUSTED_PROXY_ADDRESSES = ["10.0.0.0/8", "::1"]

    def set_count(count: int) -> None:
        settings.TRUSTED_PROXY_COUNT = count

    return set_count


def test_without_proxies_it_is_the_socket_address(proxies):
    proxies(0)
    assert client_address(request(SENDER)) == SENDER


def test_without_proxies_a_forwarded_for_header_is_never_believed(proxies):
    proxies(0)
    assert client_address(request(SENDER, forwarded=SPOOFED)) == SENDER


def test_behind_one_proxy_it_is_the_right_most_entry(proxies):
    proxies(1)
    assert client_address(request(PROXY, forwarded=SENDER)) == SENDER


def test_behind_one_proxy_entries_the_sender_wrote_itself_are_ignored(proxies):
    """The sender writes "spoofed"; our proxy appends what it saw: only the last entry is ours."""
    proxies(1)
    assert client_address(request(PROXY, forwarded=f"{SPOOFED}, 192.0.2.1, {SENDER}")) == SENDER


def test_behind_two_proxies_it_is_the_second_entry_from_the_right(proxies):
    proxies(2)
    assert client_address(request(PROXY, forwarded=f"{SPOOFED}, {SENDER}, 10.0.0.1")) == SENDER


def test_with_fewer_entries_than_proxies_it_is_the_socket_address(proxies):
    """The request did not come through both proxies: nothing in the header can be trusted."""
    proxies(2)
    assert client_address(request(SENDER, forwarded=SPOOFED)) == SENDER


def test_behind_a_proxy_a_request_without_the_header_is_the_socket_address(proxies):
    proxies(1)
    assert client_address(request(SENDER)) == SENDER


def test_spaces_and_empty_entries_are_not_counted(proxies):
    proxies(2)
    assert client_address(request(PROXY, forwarded=f" {SPOOFED} ,, {SENDER} ,  10.0.0.1 ,")) == SENDER


@pytest.mark.parametrize("value", ["unknown", "not-an-ip", "198.51.100.7:443", "999.1.1.1", "_hidden", "<script>"])
def test_a_forwarded_value_that_is_not_an_address_gives_none(proxies, value):
    proxies(1)
    assert client_address(request(PROXY, forwarded=value)) is None


def test_an_invalid_socket_address_gives_none(proxies):
    proxies(0)
    assert client_address(request("")) is None
    assert client_address(request(None)) is None


def test_ipv6_addresses_are_read_and_written_in_their_short_form(proxies):
    proxies(1)
    assert client_address(request("::1", forwarded="2001:DB8:0:0:0:0:0:7")) == "2001:db8::7"
    proxies(0)
    assert client_address(request("2001:db8::1")) == "2001:db8::1"


def test_an_ipv6_address_in_brackets_with_a_port_gives_none(proxies):
    proxies(1)
    assert client_address(request(PROXY, forwarded="[2001:db8::7]:443")) is None


def test_the_setting_is_read_on_every_request(proxies):
    forwarded = request(PROXY, forwarded=SENDER)
    proxies(0)
    assert client_address(forwarded) == PROXY
    proxies(1)
    assert client_address(forwarded) == SENDER


def test_a_forwarded_for_from_a_peer_that_is_not_a_named_proxy_is_not_believed(proxies):
    """The service reachable directly: rotating X-Forwarded-For must not rotate the address."""
    proxies(1)
    assert client_address(request(SENDER, forwarded=SPOOFED)) == SENDER


def test_behind_two_proxies_the_hop_in_between_must_be_a_named_proxy_too(proxies):
    """The front proxy reached directly by the sender, who wrote a middle hop of its own."""
    proxies(2)
    assert client_address(request(PROXY, forwarded=f"{SPOOFED}, {SENDER}")) == PROXY


def test_without_named_proxies_nobody_is_one(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.TRUSTED_PROXY_ADDRESSES = []
    assert is_trusted_proxy(PROXY) is False
    assert client_address(request(PROXY, forwarded=SENDER)) == PROXY


def test_without_a_proxy_count_a_named_address_is_not_trusted(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    settings.TRUSTED_PROXY_ADDRESSES = ["10.0.0.0/8"]
    assert is_trusted_proxy(PROXY) is False
