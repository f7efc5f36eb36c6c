"""Staff sign in with two factors (django-two-factor-auth): required in production, with recovery codes.

``ADMIN_REQUIRE_2FA`` is on whenever DEBUG is off; the tests and ``make run`` run with it off,
so each test here says which it is about.
"""

import os
import subprocess
import sys
from base64 import b32decode
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.checks import Error, run_checks
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.staff import staff

pytestmark = pytest.mark.django_db

PASSWORD = "pass-for-tests-only"
LOGIN = "/account/login/?next=/admin/"
SETUP = "/account/two_factor/setup/"


@pytest.fixture
def production(settings):
    settings.ADMIN_REQUIRE_2FA = True


def password_step(client: Client, username: str, password: str = PASSWORD):
    form = {"auth-username": username, "auth-password": password, "login_view-current_step": "auth"}
    return client.post(LOGIN, form)


def token_step(client: Client, token: str):
    return client.post(LOGIN, {"token-otp_token": token, "login_view-current_step": "token"})


def code_of(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):0{device.digits}d}"


def enrolled(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="default", confirmed=True)


def test_in_production_a_password_alone_never_reaches_an_admin_page(production):
    clerk = staff("Finance", username="clerk")
    enrolled(clerk)
    browser = Client()

    answer = password_step(browser, "clerk")

    assert answer.status_code == 200 and b"token-otp_token" in answer.content  # asked for the code
    assert browser.get("/admin/").status_code == 302
    assert browser.get("/admin/revenue/payout/").status_code == 302


def test_in_production_the_password_and_the_authenticator_code_open_the_admin(production):
    clerk = staff("Finance", username="clerk")
    device = enrolled(clerk)
    browser = Client()

    password_step(browser, "clerk")
    answer = token_step(browser, code_of(device))

    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    assert browser.get("/admin/revenue/payout/").status_code == 200


def test_in_production_a_wrong_code_keeps_the_admin_closed(production):
    clerk = staff("Finance", username="clerk")
    device = enrolled(clerk)
    browser = Client()

    password_step(browser, "clerk")
    wrong = f"{(int(code_of(device)) + 1) % 1_000_000:06d}"

    assert token_step(browser, wrong).status_code == 200
    assert browser.get("/admin/").status_code == 302


def test_in_production_a_staff_member_without_a_device_is_sent_to_enrol_and_sees_nothing_else(production):
    staff("Support", username="newcomer")
    browser = Client()

    password_step(browser, "newcomer")

    admin = browser.get("/admin/revenue/payout/", follow=True)
    assert admin.redirect_chain[-1][0] == SETUP
    assert b"setup_view-current_step" in admin.content
    assert browser.get("/admin/").status_code == 302


def test_enrolment_confirms_an_authenticator_then_gives_recovery_codes_and_opens_the_admin(production):
    newcomer = staff("Support", username="newcomer")
    browser = Client()
    password_step(browser, "newcomer")

    browser.post(SETUP, {"setup_view-current_step": "welcome"})
    key = b32decode(browser.session["django_two_factor-qr_secret_key"])
    done = browser.post(SETUP, {"setup_view-current_step": "generator", "generator-token": f"{totp(key):06d}"})

    assert done.status_code == 302
    assert TOTPDevice.objects.get(user=newcomer).confirmed is True
    assert browser.get("/admin/").status_code == 200
    codes = browser.post("/account/two_factor/backup/tokens/")
    assert codes.status_code == 302
    assert StaticDevice.objects.get(user=newcomer).token_set.count() == 10


def test_a_recovery_code_signs_in_once(production):
    clerk = staff("Finance", username="clerk")
    enrolled(clerk)
    backup = StaticDevice.objects.create(user=clerk, name="backup")
    backup.token_set.create(token="recovery123")

    def with_recovery_code() -> Client:
        browser = Client()
        password_step(browser, "clerk")
        browser.post(LOGIN, {"wizard_goto_step": "backup", "login_view-current_step": "token"})
        browser.post(LOGIN, {"backup-otp_token": "recovery123", "login_view-current_step": "backup"})
        return browser

    assert with_recovery_code().get("/admin/").status_code == 200
    assert with_recovery_code().get("/admin/").status_code == 302  # used up
    assert not backup.token_set.exists()


def test_during_development_a_password_is_enough(settings):
    settings.ADMIN_REQUIRE_2FA = False
    staff("Finance", username="clerk")
    browser = Client()

    assert password_step(browser, "clerk").status_code == 302
    assert browser.get("/admin/revenue/payout/").status_code == 200


def test_a_device_is_asked_for_even_during_development(settings):
    settings.ADMIN_REQUIRE_2FA = False
    enrolled(staff("Finance", username="clerk"))
    browser = Client()

    assert password_step(browser, "clerk").status_code == 200
    assert browser.get("/admin/").status_code == 302


def test_production_turns_it_on_by_default():
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "ADMIN_REQUIRE_2FA")}
    env.update(DEBUG="false", SECRET_KEY="x" * 50, DJANGO_SETTINGS_MODULE="blinno.settings")
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.ADMIN_REQUIRE_2FA)",
        ],
        cwd=Path(django_settings.BASE_DIR),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.stdout.strip().splitlines()[-1] == "True", shown.stderr


def test_turning_it_off_in_production_is_a_deploy_check_error(settings):
    settings.DEBUG = False
    settings.ADMIN_REQUIRE_2FA = False
    found = [m for m in run_checks(include_deployment_checks=True) if m.id == "accounts.E001"]
    assert [type(m) for m in found] == [Error]
