"""`manage.py clickpesa_simulator`: refused outside development, serves the fake API when allowed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

REPO = Path(__file__).resolve().parents[2]


def test_it_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False
    settings.CLICKPESA_SIMULATOR_ENABLED = False

    with pytest.raises(CommandError, match="development only"):
        call_command("clickpesa_simulator", "--port", "0")


def test_it_refuses_an_unknown_outcome():
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("clickpesa_simulator", "--outcome", "lucky")


def test_it_serves_the_api_until_stopped():
    env = {**os.environ, "DEBUG": "true", "CLICKPESA_CLIENT_ID": "cli-client", "CLICKPESA_API_KEY": "cli-key"}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "clickpesa_simulator", "--port", "0", "--webhook-url", ""],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        url = first_line.rsplit(" ", 1)[-1].strip()

        token = requests.post(
            f"{url}/generate-token", headers={"client-id": "cli-client", "api-key": "cli-key"}, timeout=5
        )
        balance = requests.get(f"{url}/account/balance", headers={"Authorization": token.json()["token"]}, timeout=5)
    finally:
        process.terminate()
        process.wait(timeout=10)

    assert first_line.startswith("ClickPesa simulator listening at http://127.0.0.1:")
    assert balance.status_code == 200
    assert balance.json()[0]["currency"] == "TZS"
