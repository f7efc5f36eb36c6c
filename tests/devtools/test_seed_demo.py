"""manage.py seed_demo (make run): demo data through the real services, and a password made for this database."""

import re
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from revenue.ledger import ledger_audit
from revenue.models import Payout

BASE_DIR = Path(settings.BASE_DIR)


@pytest.fixture(autouse=True)
def _debug(settings):
    settings.DEBUG = True  # as under `make run`; the test runner turns it off


def logs_in(username: str, password: str) -> bool:
    return get_user_model().objects.get(username=username).check_password(password)


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def printed_password(output: str) -> str:
    return re.search(r"admin login:\s+admin / (\S+)", output).group(1)


@pytest.mark.django_db
def test_it_prints_a_password_that_logs_the_demo_staff_in():
    password = printed_password(seed())

    for username in ("admin", "finance", "support"):
        assert logs_in(username, password), username


@pytest.mark.django_db
def test_each_run_makes_a_new_password_and_the_old_one_stops_working():
    first = printed_password(seed())
    second = printed_password(seed())

    assert first != second
    assert not logs_in("admin", first)
    assert logs_in("admin", second)


@pytest.mark.django_db
def test_the_password_is_nowhere_in_the_repository():
    password = printed_password(seed())
    found = subprocess.run(["git", "grep", "-F", "-l", password], cwd=BASE_DIR, capture_output=True, text=True)
    assert found.stdout == ""
    assert "blinno-demo-2026" not in (BASE_DIR / "devtools/management/commands/seed_demo.py").read_text()


@pytest.mark.django_db
def test_its_payouts_were_submitted_before_clickpesa_reported_on_them():
    seed()
    assert sorted(Payout.objects.values_list("status", "needs_review")) == [
        ("PAID", False),
        ("PENDING", False),
        ("REVERSED", False),
    ]
    assert ledger_audit(record=False).ok is True


def test_make_run_serves_this_machine_only_by_default():
    dry = subprocess.run(
        ["make", "-n", "run", "DATABASE_URL=postgres:///unused"], cwd=BASE_DIR, capture_output=True, text=True
    )
    assert dry.returncode == 0, dry.stderr
    assert "manage.py runserver 127.0.0.1:8000" in dry.stdout
    assert "0.0.0.0" not in dry.stdout  # noqa: S104 - asserting it is absent
