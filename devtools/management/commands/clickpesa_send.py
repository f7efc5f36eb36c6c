"""Sign a ClickPesa webhook sample and POST it to a running server, as ClickPesa would.

    manage.py clickpesa_send payment_received --reference BLN123ABC --amount 11000

For demos and manual checks: watch the payment land in the admin. Sends only to the URL
given (by default the local development server), never to ClickPesa.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from clickpesa.checksum import sign

DEFAULT_URL = "http://127.0.0.1:8000"
FALLBACK_KEY = "test-checksum-key"  # the published key the samples are signed with (docs/clickpesa.md)
PATHS = {"payments": "/api/payments/webhook", "payouts": "/api/revenue/payouts/webhook"}
AMOUNT_FIELDS = ("collectedAmount", "amount", "depositAmount")


def samples_dir() -> Path:
    """The webhook samples kept with the documentation."""
    return Path(settings.BASE_DIR) / "docs" / "clickpesa" / "samples" / "webhooks"


class Command(BaseCommand):
    help = "Sign a ClickPesa webhook sample (a name from docs/clickpesa/samples/webhooks, or a path) and POST it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("sample", help="e.g. payment_received, payout_reversed.json, or a path to a JSON file")
        parser.add_argument("--reference", help="orderReference to put in the body (paymentReference for deposits)")
        parser.add_argument("--amount", help="amount to put in the body, e.g. 11000 or 25000.50")
        parser.add_argument("--url", default=DEFAULT_URL, help=f"base URL of the server (default {DEFAULT_URL})")
        parser.add_argument(
            "--endpoint", choices=sorted(PATHS), help="default: payouts for PAYOUT events, else payments"
        )
        parser.add_argument("--key", help="checksum key (default: CLICKPESA_CHECKSUM_KEY, else the samples' key)")
        parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the answer")

    def handle(self, *args: Any, **options: Any) -> None:
        body = self._load(options["sample"])
        data = body.get("data")
        if not isinstance(data, dict):
            raise CommandError("The sample has no 'data' object.")
        if options["reference"]:
            # Deposits carry no orderReference; their reference is ClickPesa's paymentReference.
            is_deposit = "orderReference" not in data and "paymentReference" in data
            data["paymentReference" if is_deposit else "orderReference"] = options["reference"]
        if options["amount"]:
            data[self._amount_field(data)] = self._amount(options["amount"])

        key = options["key"] or settings.CLICKPESA_CHECKSUM_KEY or FALLBACK_KEY
        signed = sign(body, key)
        event = str(body.get("event") or body.get("eventType") or "")
        endpoint = options["endpoint"] or ("payouts" if event.upper().startswith("PAYOUT") else "payments")
        url = options["url"].rstrip("/") + PATHS[endpoint]
        try:
            response = requests.post(
                url,
                data=json.dumps(signed, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json", "User-Agent": "clickpesa_send"},
                timeout=options["timeout"],
            )
        except requests.RequestException as exc:
            raise CommandError(f"POST {url} failed: {exc}") from exc
        self.stdout.write(f"POST {url} {event} {data.get('orderReference') or data.get('paymentReference') or ''}")
        self.stdout.write(f"{response.status_code} {response.text}")
        if response.status_code >= 400:
            raise CommandError(f"The server answered {response.status_code}.")

    def _load(self, sample: str) -> dict[str, Any]:
        path = Path(sample)
        if not path.is_file():
            path = samples_dir() / (sample if sample.endswith(".json") else f"{sample}.json")
        if not path.is_file():
            known = ", ".join(p.stem for p in sorted(samples_dir().glob("*.json"))) or "none found"
            raise CommandError(f"No sample {sample!r}. Samples: {known}.")
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CommandError(f"{path.name} is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise CommandError(f"{path.name} does not hold a JSON object.")
        return body

    def _amount_field(self, data: dict[str, Any]) -> str:
        for field in AMOUNT_FIELDS:
            if field in data:
                return field
        raise CommandError("This sample carries no amount to replace.")

    def _amount(self, text: str) -> str:
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise CommandError(f"--amount {text!r} is not a number.") from None
        if not amount.is_finite() or amount <= 0:
            raise CommandError("--amount must be a positive number.")
        # ClickPesa sends amounts as strings.
        return str(amount)
