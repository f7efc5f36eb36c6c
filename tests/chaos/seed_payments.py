"""Migrate the database of DATABASE_URL, create pending payments in it, print them as JSON.

For a server that runs apart from the test process (its own PostgreSQL), where the test's own
connection cannot reach:

    DATABASE_URL=... python -m tests.chaos.seed_payments 60
"""

import json
import os
import sys


def main(count: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "blinno.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import override_settings

    from tests.factories import PaymentFactory

    call_command("migrate", verbosity=0)
    # Factories give every user a password; the production hasher is slow on purpose.
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        payments = [PaymentFactory() for _ in range(count)]
    json.dump(
        [{"reference": p.reference, "amount": str(p.amount), "currency": p.currency} for p in payments], sys.stdout
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
