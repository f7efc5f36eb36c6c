"""Admin login brute-force protection (django-axes): per user and address, per user across addresses."""

import pytest
from django.test import Client

from tests.staff import staff

LOGIN = "/account/login/?next=/admin/"
PASSWORD = "pass-for-tests-only"


def login(client: Client, username: str, password: str, **extra):
    """The first step of the two-factor sign-in: user name and password (the staff here have no device)."""
    form = {"auth-username": username, "auth-password": password, "login_view-current_step": "auth"}
    return client.post(LOGIN, form, **extra)


@pytest.fixture
def clerk(db):
    return staff("Finance", username="clerk")


@pytest.mark.django_db
def test_five_bad_passwords_lock_the_account_at_that_address_even_for_the_right_one(clerk):
    attacker = Client()
    for _ in range(5):
        login(attacker, "clerk", "wrong", REMOTE_ADDR="198.51.100.7")
    response = login(attacker, "clerk", PASSWORD, REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 429
    assert "_auth_user_id" not in attacker.session


@pytest.mark.django_db
def test_four_bad_passwords_do_not_lock(clerk):
    client = Client()
    for _ in range(4):
        login(client, "clerk", "wrong", REMOTE_ADDR="198.51.100.7")
    assert login(client, "clerk", PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 302


@pytest.mark.django_db
def test_the_same_account_from_another_address_can_still_log_in(clerk):
    for _ in range(5):
        login(Client(), "clerk", "wrong", REMOTE_ADDR="198.51.100.7")
    office = Client()
    assert login(office, "clerk", PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 302
    assert office.session["_auth_user_id"] == str(clerk.pk)


@pytest.mark.django_db
def test_behind_a_trusted_proxy_the_lockout_follows_the_client_address(clerk, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.TRUSTED_PROXY_ADDRESSES = ["10.0.0.2"]
    proxy = "10.0.0.2"
    for _ in range(5):
        login(Client(), "clerk", "wrong", REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7")
    locked = login(Client(), "clerk", PASSWORD, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.7")
    other = login(Client(), "clerk", PASSWORD, REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert (locked.status_code, other.status_code) == (429, 302)


@pytest.mark.django_db
def test_without_a_trusted_proxy_a_forged_forwarded_for_does_not_dodge_the_lock(clerk, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for i in range(5):
        login(Client(), "clerk", "wrong", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    forged = login(Client(), "clerk", PASSWORD, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert forged.status_code == 429


@pytest.mark.django_db
def test_a_forwarded_for_from_a_client_reaching_the_service_directly_does_not_dodge_the_lock(clerk, settings):
    """TRUSTED_PROXY_COUNT=1 while the app is reachable directly: the header is not the proxy's."""
    settings.TRUSTED_PROXY_COUNT = 1
    settings.TRUSTED_PROXY_ADDRESSES = ["10.0.0.2"]
    for i in range(5):
        login(Client(), "clerk", "wrong", REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
    rotated = login(Client(), "clerk", PASSWORD, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.99")
    assert rotated.status_code == 429


@pytest.mark.django_db
def test_the_user_name_locks_across_addresses_at_its_own_limit(clerk, settings):
    """Four tries from each of many addresses: no pair reaches five, the user name reaches ten."""
    assert settings.AXES_USERNAME_FAILURE_LIMIT == 10
    for i in range(10):
        login(Client(), "clerk", "wrong", REMOTE_ADDR=f"198.51.100.{i // 4 + 1}")
    office = login(Client(), "clerk", PASSWORD, REMOTE_ADDR="203.0.113.9")
    assert office.status_code == 429


@pytest.mark.django_db
def test_nine_failures_across_addresses_leave_the_account_open(clerk):
    for i in range(9):
        login(Client(), "clerk", "wrong", REMOTE_ADDR=f"198.51.100.{i // 4 + 1}")
    assert login(Client(), "clerk", PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 302


@pytest.mark.django_db
def test_spraying_four_tries_at_each_of_many_users_locks_each_of_them(settings):
    """One address, four passwords per user, then the next address: each user locks at ten."""
    users = [staff("Support", username=f"sprayed{n}") for n in range(3)]
    for round_ in range(3):
        for user in users:
            for _ in range(4):
                login(Client(), user.username, "wrong", REMOTE_ADDR=f"198.51.100.{round_ + 1}")
    for user in users:
        assert login(Client(), user.username, PASSWORD, REMOTE_ADDR="203.0.113.9").status_code == 429
