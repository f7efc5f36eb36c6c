"""`manage.py seed_demo`: a living demo system — staff, creators, buyers, orders and payouts in many states.

Idempotent: users are fetched or created; orders and payouts are created only on the first
run. Everything goes through the real services, so the ledger is as a real one would be.
Each run gives the demo accounts a new random password and prints it: no password is kept
in the repository or on disk, and no two databases share one.
"""

import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from clickpesa.payloads import GatewayStatus
from payments.models import Booking, Subscription
from payments.services import LineSpec, order_create, payment_mark_failed, payment_mark_received, payment_start
from revenue.models import PayoutMethod, TransactionType
from revenue.services import (
    creator_accounts_ensure,
    deposit_record,
    payout_apply_gateway_status,
    payout_request,
)
from revenue.submission import payout_claim

CREATORS = [
    ("asha", "Asha", "Mwakyusa", "sw", ("MOBILE_WALLET", "M-Pesa", "255754000111", "")),
    ("juma", "Juma", "Hassani", "en", ("MOBILE_WALLET", "Airtel Money", "255688000222", "")),
    ("neema", "Neema", "Kimaro", "sw", ("BANK_ACCOUNT", "CRDB BANK PLC", "0150123456789", "CORUTZTZ")),
]
BUYERS = [("baraka", "Baraka", "Juma"), ("zoe", "Zoë", "Ngowi")]
DEMO_USERNAMES = ["admin", "finance", "support", *(row[0] for row in CREATORS), *(row[0] for row in BUYERS)]


class Command(BaseCommand):
    help = "Create demo users, orders and payouts (idempotent). Prints the admin login."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="allow with DEBUG off (never in production)")

    def handle(self, *args: object, force: bool = False, **options: object) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates demo accounts with printed passwords; run it with DEBUG on (or --force)."
            )
        password = secrets.token_urlsafe(12)
        with transaction.atomic():
            staff = self._staff()
            creators = [self._creator(*row) for row in CREATORS]
            buyers = [self._user(u, first, last, "en") for u, first, last in BUYERS]
            if not creators[0].sold_lines.exists():
                self._orders(creators, buyers)
                self._payouts(creators, staff)
                deposit_record(reference="DEMOTOPUP0001", amount=Decimal("250000.00"), currency="TZS")
            User = get_user_model()
            for user in User.objects.filter(username__in=DEMO_USERNAMES):
                user.set_password(password)
                user.save(update_fields=["password"])
        self.stdout.write(self.style.SUCCESS("Demo data ready. A new password for every demo account:"))
        self.stdout.write(f"  admin login:   admin / {password}   (superuser)")
        self.stdout.write(f"  finance login: finance / {password}")
        self.stdout.write(f"  support login: support / {password}")

    def _user(self, username: str, first: str, last: str, language: str, **extra: object):
        User = get_user_model()
        user, _ = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@blinno.example",
                "language": language,
                **extra,
            },
        )
        return user

    def _staff(self):
        admin = self._user("admin", "Admin", "Blinno", "en", is_staff=True, is_superuser=True)
        for name in ("finance", "support"):
            user = self._user(name, name.title(), "Team", "en", is_staff=True)
            user.groups.add(Group.objects.get_or_create(name=name.title())[0])
        return admin

    def _creator(self, username: str, first: str, last: str, language: str, method: tuple[str, str, str, str]):
        creator = self._user(username, first, last, language, is_creator=True, phone_number=method[2][:12])
        creator_accounts_ensure(creator)
        kind, provider, number, bic = method
        PayoutMethod.objects.get_or_create(
            creator=creator,
            is_default=True,
            defaults={
                "kind": kind,
                "provider": provider,
                "account_number": number,
                "account_name": f"{first} {last}".upper(),
                "bic": bic,
            },
        )
        return creator

    def _orders(self, creators, buyers) -> None:
        asha, juma, neema = creators
        baraka, zoe = buyers
        booking = Booking.objects.create(buyer=zoe, creator=neema, description="Portrait session, 1 hour")
        subscription = Subscription.objects.create(buyer=baraka, creator=asha, plan="Monthly sketches")
        specs = [
            (baraka, [LineSpec(asha, TransactionType.MARKETPLACE, Decimal("25000.00"), "Kanga print")], "paid"),
            (zoe, [LineSpec(juma, TransactionType.DIGITAL_PRODUCT, Decimal("12000.00"), "Beat pack")], "paid"),
            (
                zoe,
                [
                    LineSpec(neema, TransactionType.SERVICE_BOOKING, Decimal("60000.00"), booking=booking),
                    LineSpec(asha, TransactionType.TIP, Decimal("2000.00"), "Tip"),
                ],
                "paid",
            ),
            (
                baraka,
                [LineSpec(asha, TransactionType.SUBSCRIPTION, Decimal("15000.00"), subscription=subscription)],
                "paid",
            ),
            (baraka, [LineSpec(juma, TransactionType.COMMISSION, Decimal("80000.00"), "Album cover")], "paid"),
            (zoe, [LineSpec(neema, TransactionType.MARKETPLACE, Decimal("40000.00"), "Beaded necklace")], "paid"),
            (baraka, [LineSpec(juma, TransactionType.MARKETPLACE, Decimal("9000.00"), "T-shirt")], "failed"),
            (zoe, [LineSpec(asha, TransactionType.DIGITAL_PRODUCT, Decimal("7000.00"), "E-book")], "pending"),
            (baraka, [LineSpec(neema, TransactionType.MARKETPLACE, Decimal("30000.00"), "Basket")], "review"),
        ]
        for n, (buyer, lines, fate) in enumerate(specs):
            order = order_create(buyer, lines=lines)
            payment = payment_start(order, phone_number=buyer.phone_number or "255712345678")
            if fate == "paid":
                payment_mark_received(
                    payment, amount=payment.amount, currency="TZS", gateway_id=f"DEMO{n:04d}", channel="M-PESA"
                )
            elif fate == "failed":
                payment_mark_failed(payment, reason="Insufficient balance", channel="AIRTEL-MONEY")
            elif fate == "review":
                payment_mark_received(payment, amount=payment.amount - 1000, currency="TZS", channel="M-PESA")

    def _payouts(self, creators, staff) -> None:
        asha, juma, neema = creators
        # Each is claimed as the submitter claims it before calling ClickPesa: reports about a
        # payout never submitted are held for review, not applied.
        paid = payout_request(asha, requested_by=staff)
        payout_claim(paid.pk)
        payout_apply_gateway_status(paid, GatewayStatus.PROCESSING, source="system", gateway_id="DEMOPAY1")
        payout_apply_gateway_status(paid, GatewayStatus.SUCCESS, source="system", fee=Decimal("1180.00"))
        reversed_payout = payout_request(juma, requested_by=staff)
        payout_claim(reversed_payout.pk)
        payout_apply_gateway_status(
            reversed_payout,
            GatewayStatus.REVERSED,
            source="system",
            reason="The payout was reversed due to invalid account information.",
        )
        payout_request(neema, requested_by=staff)
