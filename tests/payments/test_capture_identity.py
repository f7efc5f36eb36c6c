"""A capture settled alone (in its request) and one settled in a settler's batch write the same rows.

Two worlds of the same shape: one settled event by event (inline), the other acknowledged and
settled in one batch (queued, the broker down so that nothing settles before the test does).
Every row a capture writes is compared with ids, times and names taken out: payment, order,
fee rows, ledger transaction and entries, creator balances, notifications, the event. A change
to what a capture writes that reaches one path and not the other fails here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from clickpesa import inbox
from clickpesa.models import WebhookEvent
from core.users import User
from notifications.models import Notification
from payments.models import Payment
from revenue.models import LedgerAccount, LedgerTransaction
from tests.factories import BuyerFactory, CreatorFactory, OrderFactory, PaymentFactory
from tests.webhooks import broker_down, payment_body, post_webhook, use_checksum_key

SHAPES = [
    {"creators": 1, "amount": Decimal("10000.00"), "transaction_type": "MARKETPLACE"},
    {"creators": 2, "amount": Decimal("25000.00"), "transaction_type": "SERVICE_BOOKING"},
    {"creators": 1, "amount": Decimal("1200.00"), "transaction_type": "TIP"},
    {"creators": 3, "amount": Decimal("7.35"), "transaction_type": "SUBSCRIPTION", "currency": "USD"},
]


NAMES_POOL = ("Asha", "Baraka", "Chausiku", "Daudi", "Eliya", "Faraji", "Gift", "Halima", "Imani", "Jabali", "Kesi")


def _world() -> list[tuple[Payment, list[User]]]:
    """One payment per shape, each with its own buyer and creators (distinct names: roles are told apart by them)."""
    names = iter(NAMES_POOL)
    world = []
    for shape in SHAPES:
        creators = [CreatorFactory(first_name=next(names)) for _ in range(shape["creators"])]
        order = OrderFactory(
            buyer=BuyerFactory(first_name=next(names)),
            creators=creators,
            amount=shape["amount"],
            transaction_type=shape["transaction_type"],
            currency=shape.get("currency", "TZS"),
        )
        world.append((PaymentFactory(order=order), creators))
    return world


def _deliver(world: list[tuple[Payment, list[User]]]) -> None:
    client = Client()
    for payment, _ in world:
        post_webhook(client, payment_body(payment, id=f"GW-{payment.order.pk}"))


def _rows(payment: Payment, creators: list[User]) -> dict[str, Any]:
    """Everything the capture of ``payment`` wrote, with ids, times and names replaced by roles."""
    payment.refresh_from_db()
    order = payment.order
    buyer = order.buyer
    names = {
        payment.reference: "<reference>",
        f"GW-{order.pk}": "<gateway id>",
        f"#{order.pk}": "#<order>",
        f"payment:{payment.pk}:": "payment:<payment>:",
        **{f"sale:{c.pk}": f"sale:<CREATOR{i}>" for i, c in enumerate(creators)},
    }
    for role, user in [("buyer", buyer), *((f"creator{i}", c) for i, c in enumerate(creators))]:
        # Upper case: no user name (lower case) can be found inside a role put in earlier.
        names.update({user.username: f"<{role.upper()}>", user.email: f"<{role.upper()} EMAIL>"})
        if user.get_short_name():
            names[user.get_short_name()] = f"<{role.upper()} NAME>"
    roles = {buyer.pk: "buyer", **{c.pk: f"creator{i}" for i, c in enumerate(creators)}}

    def text(value: str) -> str:
        for real, role in sorted(names.items(), key=lambda item: -len(item[0])):
            value = value.replace(real, role)
        return value

    captured = LedgerTransaction.objects.get(payment=payment)
    return {
        "payment": (
            payment.status,
            text(payment.gateway_id),
            payment.gateway_reference,
            payment.channel,
            payment.completed_at == payment.updated_at,
        ),
        "order": (order.status, order.updated_at == payment.completed_at),
        "fees": sorted(
            (
                roles[f.creator_id],
                f.transaction_type,
                f.subtotal,
                f.rate,
                f.platform_fee,
                f.creator_amount,
                f.currency,
                f.status,
                f.collected_at == payment.completed_at,
                f.hold_until - payment.completed_at if f.hold_until else None,
                f.released_at == payment.completed_at,
                f.payout_status,
            )
            for f in order.fees.all()
        ),
        "ledger": (captured.kind, text(captured.idempotency_key), text(captured.memo), captured.posted_by_id),
        "entries": sorted(
            (e.account.kind, roles.get(e.account.creator_id, "platform"), e.account.currency, e.direction, e.amount)
            for e in captured.entries.select_related("account")
        ),
        "balances": sorted(
            (roles[a.creator_id], a.kind, a.currency, a.balance)
            for a in LedgerAccount.objects.filter(creator__in=creators)
        ),
        "notifications": sorted(
            (
                n.kind,
                roles.get(n.recipient_id, "staff"),
                text(n.email),
                n.channel,
                n.status,
                n.language,
                text(n.subject),
                text(n.body),
                text(n.dedupe_key),
            )
            for n in Notification.objects.filter(recipient__in=[buyer, *creators])
        ),
        "event": WebhookEvent.objects.values_list("status", "detail", "attempts").get(
            order_reference=payment.reference
        ),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("hold_days", [0, 7])
def test_a_batch_and_single_deliveries_write_the_same_rows(settings, hold_days):
    use_checksum_key(settings)
    settings.EARNINGS_HOLD_DAYS = hold_days
    alone, together = _world(), _world()

    settings.CLICKPESA_WEBHOOK_SETTLE = "inline"
    _deliver(alone)
    settings.CLICKPESA_WEBHOOK_SETTLE = "queued"
    with broker_down():
        _deliver(together)
        assert WebhookEvent.objects.filter(status=WebhookEvent.Status.RECEIVED).count() == len(SHAPES)
        batch = inbox.settle_batch()
    assert (batch.settled, batch.failed) == (len(SHAPES), 0)

    for (one, one_creators), (other, other_creators) in zip(alone, together, strict=True):
        expected = _rows(one, one_creators)
        assert expected["payment"][0] == Payment.Status.COMPLETED
        if hold_days:
            assert {row[9] is not None for row in expected["fees"]} == {True}
        got = _rows(other, other_creators)
        for kind, rows in expected.items():
            assert got[kind] == rows, kind
