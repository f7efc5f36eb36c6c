"""Test fixtures (factory-boy). State is built through the real services, never by writing balances."""

from decimal import Decimal

import factory

from accounts.models import User
from payments.models import Order, Payment
from payments.services import LineSpec, order_create, payment_mark_received, payment_start
from revenue.models import Payout, PayoutMethod, TransactionType
from revenue.services import creator_accounts_ensure, payout_request
from revenue.submission import payout_claim


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    phone_number = factory.Sequence(lambda n: f"2557{n:08d}")
    password = factory.django.Password("pass-for-tests-only")


class BuyerFactory(UserFactory):
    username = factory.Sequence(lambda n: f"buyer{n}")


class PayoutMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PayoutMethod

    kind = PayoutMethod.Kind.MOBILE_WALLET
    provider = "M-Pesa"
    account_number = factory.Sequence(lambda n: f"2557540{n:05d}")
    account_name = factory.Faker("name")
    is_default = True


class CreatorFactory(UserFactory):
    """A creator with ledger accounts in TZS and a default M-Pesa payout method."""

    username = factory.Sequence(lambda n: f"creator{n}")
    is_creator = True

    @factory.post_generation
    def accounts(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            creator_accounts_ensure(self)

    @factory.post_generation
    def payout_method(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create and extracted is not False:
            PayoutMethodFactory(creator=self)


class OrderFactory(factory.Factory):
    """An order built by `order_create`: one line per creator, fees computed by the real service.

    `creators` defaults to one new creator; `amount` is each line's amount.
    """

    class Meta:
        model = Order

    buyer = factory.SubFactory(BuyerFactory)
    creators = factory.LazyFunction(lambda: [CreatorFactory()])
    amount = Decimal("10000.00")
    transaction_type = TransactionType.MARKETPLACE
    currency = "TZS"

    @classmethod
    def _create(cls, model_class: type, **kwargs: object) -> Order:
        lines = [
            LineSpec(creator=c, transaction_type=kwargs["transaction_type"], amount=Decimal(kwargs["amount"]))
            for c in kwargs["creators"]
        ]
        return order_create(kwargs["buyer"], lines=lines, currency=kwargs["currency"])

    _build = _create


class PaymentFactory(factory.Factory):
    """A PENDING payment for an order, from `payment_start`."""

    class Meta:
        model = Payment

    order = factory.SubFactory(OrderFactory)

    @classmethod
    def _create(cls, model_class: type, **kwargs: object) -> Payment:
        return payment_start(kwargs["order"])

    _build = _create


def capture(payment: Payment) -> Payment:
    """Complete a payment through the real handler, as a matching webhook would."""
    payment_mark_received(payment, amount=payment.amount, currency=payment.currency, gateway_id=f"GW{payment.pk}")
    payment.refresh_from_db()
    return payment


def earn(creator: User, amount: Decimal = Decimal("10000.00"), **order_kwargs: object) -> Payment:
    """Give a creator earnings by selling something and capturing the payment."""
    return capture(PaymentFactory(order=OrderFactory(creators=[creator], amount=amount, **order_kwargs)))


class PayoutFactory(factory.Factory):
    """A PENDING payout that really reserved the creator's money (a sale, a capture, a request).

    ``submitted`` (the default) records a submission attempt, as the submitter's claim does
    before it calls ClickPesa, so that ClickPesa's reports about it apply; ``submitted=False``
    leaves it waiting for its first submission.
    """

    class Meta:
        model = Payout

    creator = factory.SubFactory(CreatorFactory)
    sale_amount = Decimal("50000.00")
    submitted = True

    @classmethod
    def _create(cls, model_class: type, **kwargs: object) -> Payout:
        creator = kwargs["creator"]
        earn(creator, Decimal(kwargs["sale_amount"]))
        payout = payout_request(creator)
        if kwargs["submitted"]:
            assert payout_claim(payout.pk) == 0
            payout.refresh_from_db()
        return payout

    _build = _create
