"""`manage.py clickpesa_simulator`: a fake ClickPesa on a local port, for development and demos."""

import threading
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from devtools.simulator import OUTCOMES, ClickPesaSimulator, ensure_simulator_allowed


def _amount(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        raise CommandError(f"--balance must be an amount, not {text!r}") from None


class Command(BaseCommand):
    help = (
        "Run a fake ClickPesa API that sends signed webhooks to this service. Point CLICKPESA_BASE_URL "
        "at it. Development only: refused with DEBUG off unless CLICKPESA_SIMULATOR_ENABLED is set."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8100, help="port to listen on; 0 picks a free one")
        parser.add_argument(
            "--webhook-url", default="http://127.0.0.1:8000", help="this service's base URL; empty: send none"
        )
        parser.add_argument("--key", default=None, help="checksum key (default CLICKPESA_CHECKSUM_KEY)")
        parser.add_argument("--delay", type=float, default=1.0, help="seconds between a record's webhooks")
        parser.add_argument("--duplicates", type=int, default=0, help="extra copies of every webhook")
        parser.add_argument("--shuffle", action="store_true", help="deliver a record's webhooks out of order")
        parser.add_argument("--drop-rate", type=float, default=0.0, help="probability of dropping a webhook")
        parser.add_argument("--outcome", choices=OUTCOMES, default="success", help="what happens to payouts")
        parser.add_argument("--seed", type=int, default=0, help="seed for mixed outcomes, shuffles and drops")
        parser.add_argument("--cooldown", type=int, default=0, help="seconds between payouts to one destination")
        parser.add_argument("--balance", type=_amount, default=None, help="opening merchant balance per currency")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            ensure_simulator_allowed()
            simulator = ClickPesaSimulator(
                webhook_url=options["webhook_url"],
                key=options["key"],
                delay=options["delay"],
                duplicates=options["duplicates"],
                shuffle=options["shuffle"],
                drop_rate=options["drop_rate"],
                outcome=options["outcome"],
                seed=options["seed"],
                cooldown=options["cooldown"],
                balance=options["balance"],
                auto_deliver=True,
                host=options["host"],
                port=options["port"],
            )
        except (ImproperlyConfigured, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        simulator.start()
        webhooks = simulator.config.webhook_url or "nowhere (recorded only)"
        signed = "signed" if simulator.config.key else "UNSIGNED (no checksum key)"
        self.stdout.write(f"ClickPesa simulator listening at {simulator.url}")
        self.stdout.write(f"Webhooks ({signed}) go to {webhooks}. Set CLICKPESA_BASE_URL={simulator.url}")
        self.stdout.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            self.stdout.write("Stopping.")
        finally:
            simulator.stop()
