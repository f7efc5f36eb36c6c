"""Data the HTTP scenarios need, prepared before any clock starts.

Two ways to make unpaid two-creator orders with a pending payment each:

* :func:`orders_through_services`: ``order_create`` + ``payment_start``, the real services
  (used for the duplicate storm and the payout scenario);
* :func:`orders_in_bulk`: the same rows in a few ``bulk_create`` statements, with amounts,
  fees and references computed by the same functions the services call (``processing_fee``,
  ``platform_fee_quote``, ``new_reference``); used for the tens of thousands of orders the
  throughput runs consume.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from django.db import transaction

from accounts.models import User
from clickpesa.checksum import sign
from core.references import new_reference
from payments.models import Order, OrderLine, Payment
from payments.services import LineSpec, order_create, payment_start
from revenue.fees import platform_fee_quote, processing_fee
from revenue.ledger import account_book
from revenue.models import LedgerAccount, PayoutMethod, PlatformFee, TransactionType

CURRENCY = "TZS"
PAYMENTS_PATH = "/api/payments/webhook"
BATCH = 2000


@dataclass(frozen=True)
class People:
    creators: list[User]
    buyers: list[User]


def people_create(*, creators: int, buyers: int, prefix: str) -> People:
    """Creators (with ledger accounts and a default M-Pesa method) and buyers, all with email addresses."""

    def users(kind: str, count: int, is_creator: bool) -> list[User]:
        rows = [
            User(
                username=f"{prefix}{kind}{n}",
                first_name=f"{kind.title()}{n}",
                last_name="Bench",
                email=f"{prefix}{kind}{n}@example.com",
                phone_number=f"2557{n:08d}",
                is_creator=is_creator,
                password="!",  # noqa: S106 - unusable: nobody logs in as these
            )
            for n in range(count)
        ]
        return User.objects.bulk_create(rows, batch_size=BATCH)

    made_creators = users("creator", creators, True)
    made_buyers = users("buyer", buyers, False)
    account_book(
        CURRENCY,
        creator_ids=[c.pk for c in made_creators],
        platform_kinds=[k for k in LedgerAccount.Kind if k not in LedgerAccount.CREATOR_KINDS],
    )
    PayoutMethod.objects.bulk_create(
        [
            PayoutMethod(
                creator=c,
                kind=PayoutMethod.Kind.MOBILE_WALLET,
                provider="M-Pesa",
                account_number=f"2557540{n:05d}",
                account_name=c.get_full_name(),
                is_default=True,
            )
            for n, c in enumerate(made_creators)
        ],
        batch_size=BATCH,
    )
    return People(made_creators, made_buyers)


def _line_amount(rng: random.Random) -> Decimal:
    return Decimal(rng.randrange(5_000, 50_000, 500)).quantize(Decimal("0.01"))


def _two_creators(rng: random.Random, people: People) -> list[User]:
    return rng.sample(people.creators, 2)


def orders_through_services(people: People, count: int, *, seed: int) -> list[Payment]:
    """``count`` two-creator orders made by ``order_create``, each with a ``payment_start`` payment."""
    rng = random.Random(seed)
    payments = []
    for _ in range(count):
        lines = [
            LineSpec(creator=c, transaction_type=TransactionType.MARKETPLACE, amount=_line_amount(rng))
            for c in _two_creators(rng, people)
        ]
        order = order_create(rng.choice(people.buyers), lines=lines, currency=CURRENCY)
        payments.append(payment_start(order))
    return payments


def orders_in_bulk(people: People, count: int, *, seed: int) -> list[Payment]:
    """The rows ``orders_through_services`` makes, written with ``bulk_create`` in batches."""
    rng = random.Random(seed)
    payments: list[Payment] = []
    for start in range(0, count, BATCH):
        with transaction.atomic():
            payments += _bulk_batch(people, min(BATCH, count - start), rng)
    return payments


def _bulk_batch(people: People, count: int, rng: random.Random) -> list[Payment]:
    kind = TransactionType.MARKETPLACE
    plans = [[(c, _line_amount(rng)) for c in _two_creators(rng, people)] for _ in range(count)]
    orders = []
    for plan in plans:
        subtotal = sum((amount for _, amount in plan), Decimal(0))
        fee = processing_fee(subtotal, CURRENCY)
        orders.append(
            Order(
                buyer=rng.choice(people.buyers),
                currency=CURRENCY,
                subtotal=subtotal,
                processing_fee=fee,
                total=subtotal + fee,
            )
        )
    Order.objects.bulk_create(orders)
    lines, fees = [], []
    for order, plan in zip(orders, plans, strict=True):
        for creator, amount in plan:
            lines.append(
                OrderLine(
                    order=order,
                    creator=creator,
                    transaction_type=kind,
                    description=kind.replace("_", " ").title(),
                    amount=amount,
                )
            )
            quote = platform_fee_quote(kind, amount, CURRENCY)
            fees.append(
                PlatformFee(
                    order=order,
                    creator=creator,
                    transaction_type=kind,
                    subtotal=amount,
                    rate=quote.rate,
                    platform_fee=quote.platform_fee,
                    creator_amount=quote.creator_amount,
                    currency=CURRENCY,
                )
            )
    OrderLine.objects.bulk_create(lines)
    PlatformFee.objects.bulk_create(fees)
    return Payment.objects.bulk_create(
        Payment(order=o, reference=new_reference("BLN"), amount=o.total, currency=o.currency) for o in orders
    )


def payment_received_body(payment: Payment, key: str, *, serial: int) -> str:
    """A signed PAYMENT RECEIVED body for the payment, shaped like ClickPesa's sample."""
    moment = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    data = {
        "id": f"{payment.reference}X{serial}",
        "status": "SUCCESS",
        "paymentReference": f"MP{serial:012d}",
        "orderReference": payment.reference,
        "collectedAmount": str(payment.amount),
        "collectedCurrency": payment.currency,
        "message": "success",
        "channel": "M-PESA",
        "clientId": "IDbenchClient",
        "createdAt": moment,
        "updatedAt": moment,
        "customer": {
            "customerName": "Bench Buyer",
            "customerEmail": "buyer@example.com",
            "customerPhoneNumber": "255712345678",
        },
    }
    body = sign({"event": "PAYMENT RECEIVED", "data": data}, key)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def write_requests(path: Path, requests: Iterable[tuple]) -> int:
    """Write (url path, body, tag[, method, headers]) as the load generator's JSON lines; return how many.

    Without a method the request is a POST; headers add to the load generator's own.
    """
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for url_path, body, tag, *rest in requests:
            line = {"path": url_path, "body": body, "tag": tag}
            if rest:
                line["method"], line["headers"] = rest[0], rest[1] if len(rest) > 1 else {}
            out.write(json.dumps(line) + "\n")
            count += 1
    return count
