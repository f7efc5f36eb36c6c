"""What the API reads and writes: request bodies (strict) and the resources it answers with.

Amounts are strings with two decimals; times ISO 8601 with their offset; people are named by
the storefront's own ids.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import User
from core.money import CENT, MONEY_MAX, Currency
from payments.models import Order, Payment, Refund
from revenue.models import PayoutMethod, TransactionType

from .base import StrictSerializer

EXTERNAL_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_LINES = 100


def money(**kwargs: Any) -> serializers.DecimalField:
    """A money amount: a string like ``"25000.00"`` (a JSON number is read too)."""
    return serializers.DecimalField(max_digits=20, decimal_places=2, min_value=CENT, max_value=MONEY_MAX, **kwargs)


def money_out() -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=20, decimal_places=2, read_only=True)


def _external_id(user: User | None) -> str | None:
    if user is None:
        return None
    return user.external_id or user.username


# ---- people -----------------------------------------------------------------------------


class PersonIn(StrictSerializer):
    name = serializers.CharField(max_length=300, allow_blank=True, default="")
    email = serializers.EmailField(allow_blank=True, default="")
    phone = serializers.CharField(max_length=40, allow_blank=True, default="")
    language = serializers.ChoiceField(choices=User.Language.values, default=User.Language.ENGLISH)
    is_creator = serializers.BooleanField(default=False)


class PersonOut(serializers.Serializer):
    id = serializers.SerializerMethodField()
    name = serializers.CharField(source="get_full_name")
    email = serializers.EmailField()
    phone = serializers.CharField(source="phone_number")
    language = serializers.CharField()
    is_creator = serializers.BooleanField()

    def get_id(self, person: User) -> str | None:
        return _external_id(person)


# ---- payout methods ---------------------------------------------------------------------


class PayoutMethodIn(StrictSerializer):
    kind = serializers.ChoiceField(choices=["mobile_wallet", "bank_account"])
    account_number = serializers.CharField(max_length=40, help_text="A phone in any Tanzanian form, or a bank account")
    account_name = serializers.CharField(max_length=120)
    bic = serializers.CharField(max_length=11, required=False, allow_blank=True, default="")
    make_default = serializers.BooleanField(default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["kind"] == "bank_account" and not attrs["bic"]:
            raise serializers.ValidationError({"bic": ["A bank account needs its bank's BIC."]})
        return attrs


class PayoutMethodOut(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.SerializerMethodField()
    provider = serializers.CharField()
    account_number = serializers.CharField(source="masked_destination", help_text="Last four digits only")
    account_name = serializers.CharField()
    bic = serializers.CharField()
    is_default = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_kind(self, method: PayoutMethod) -> str:
        return method.kind.lower()


# ---- orders -----------------------------------------------------------------------------


class LineIn(StrictSerializer):
    creator = serializers.RegexField(EXTERNAL_ID)
    transaction_type = serializers.ChoiceField(choices=[t.lower() for t in TransactionType.values])
    amount = money()
    description = serializers.CharField(max_length=200, allow_blank=True, default="")


class OrderIn(StrictSerializer):
    buyer = serializers.RegexField(EXTERNAL_ID)
    currency = serializers.ChoiceField(choices=Currency.values, default=Currency.TZS)
    lines = LineIn(many=True, allow_empty=False, max_length=MAX_LINES)


class LineOut(serializers.Serializer):
    creator = serializers.SerializerMethodField()
    transaction_type = serializers.SerializerMethodField()
    amount = money_out()
    description = serializers.CharField()

    def get_creator(self, line: Any) -> str | None:
        return _external_id(line.creator)

    def get_transaction_type(self, line: Any) -> str:
        return str(line.transaction_type).lower()


class CreatorShareOut(serializers.Serializer):
    creator = serializers.CharField()
    subtotal = money_out()
    platform_fee = money_out()
    net = money_out()


class PaymentOut(serializers.Serializer):
    reference = serializers.CharField()
    order = serializers.IntegerField(source="order_id")
    method = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    amount = money_out()
    currency = serializers.CharField()
    phone = serializers.CharField(source="phone_number")
    link = serializers.CharField(allow_null=True, help_text="Where the buyer pays (card, checkout link)")
    failure_reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)

    def get_method(self, payment: Payment) -> str:
        return payment.method.lower()

    def get_status(self, payment: Payment) -> str:
        return payment.status.lower()

    def to_representation(self, instance: Payment) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["link"] = data["link"] or None
        return data


class OrderOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.SerializerMethodField()
    buyer = serializers.SerializerMethodField()
    currency = serializers.CharField()
    subtotal = money_out()
    processing_fee = money_out()
    total = money_out()
    lines = LineOut(many=True, source="lines.all")
    creators = serializers.SerializerMethodField()
    payments = PaymentOut(many=True, source="payments.all")
    created_at = serializers.DateTimeField()

    def get_status(self, order: Order) -> str:
        return order.status.lower()

    def get_buyer(self, order: Order) -> str | None:
        return _external_id(order.buyer)

    @staticmethod
    def _shares(order: Order) -> list[dict[str, Any]]:
        shares: dict[int, dict[str, Any]] = {}
        for fee in order.fees.select_related("creator").order_by("id"):
            share = shares.setdefault(
                fee.creator_id,
                {"creator": _external_id(fee.creator), "subtotal": 0, "platform_fee": 0, "net": 0},
            )
            share["subtotal"] += fee.subtotal
            share["platform_fee"] += fee.platform_fee
            share["net"] += fee.creator_amount
        return list(shares.values())

    def get_creators(self, order: Order) -> list[dict[str, Any]]:
        return CreatorShareOut(self._shares(order), many=True).data


class PaymentIn(StrictSerializer):
    method = serializers.ChoiceField(choices=[m.lower() for m in Payment.Method.values])
    phone = serializers.CharField(max_length=40, required=False, help_text="For ussd_push: any Tanzanian form")
    customer = serializers.RegexField(EXTERNAL_ID, required=False, help_text="For card: the buyer's id")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["method"] == "ussd_push" and not attrs.get("phone"):
            raise serializers.ValidationError({"phone": ["A USSD push needs the phone to send it to."]})
        if attrs["method"] == "card" and not attrs.get("customer"):
            raise serializers.ValidationError({"customer": ["A card payment needs the customer's id."]})
        return attrs


class RefundLineIn(StrictSerializer):
    line = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="The order line's id")
    amount = money(help_text="How much of the line goes back")


class RefundIn(StrictSerializer):
    lines = RefundLineIn(many=True, allow_empty=False, max_length=MAX_LINES)
    reason = serializers.ChoiceField(choices=[r.lower() for r in Refund.Reason.values])
    note = serializers.CharField(max_length=500, help_text="What happened, for the person who approves it")

    def validate_lines(self, lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len({line["line"] for line in lines}) != len(lines):
            raise serializers.ValidationError("Each line may appear once.")
        return lines


class RefundOut(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.IntegerField(source="order_id")
    status = serializers.SerializerMethodField()
    reason = serializers.SerializerMethodField()
    amount = money_out()
    platform_fee_refunded = money_out()
    currency = serializers.CharField()
    payout = serializers.CharField(source="payout.reference", allow_null=True, default=None)
    created_at = serializers.DateTimeField()

    def get_status(self, refund: Refund) -> str:
        return refund.status.lower()

    def get_reason(self, refund: Refund) -> str:
        return refund.reason.lower()


# ---- creators ---------------------------------------------------------------------------


class BalanceOut(serializers.Serializer):
    creator = serializers.CharField()
    currency = serializers.CharField()
    pending = money_out()
    available = money_out()
    in_flight = money_out()
    earned = money_out()
    paid_out = money_out()


class StatementLineOut(serializers.Serializer):
    at = serializers.DateTimeField()
    type = serializers.CharField(source="line")
    kind = serializers.CharField(source="kind_label")
    reference = serializers.CharField()
    detail = serializers.CharField()
    sale = money_out()
    platform_fee = money_out()
    withholding_tax = money_out()
    amount = money_out()
    balance = money_out()


class StatementOut(serializers.Serializer):
    """A creator's month: the balance is everything owed to them (pending, available, in flight, less a receivable)."""

    creator = serializers.CharField()
    period = serializers.CharField(source="statement.period")
    currency = serializers.CharField(source="statement.currency")
    opening_balance = money_out()
    closing_balance = money_out()
    lines = StatementLineOut(many=True, source="statement.lines")

    def to_representation(self, instance: Any) -> Any:
        statement = instance["statement"]
        return super().to_representation(
            {**instance, "opening_balance": statement.opening, "closing_balance": statement.closing}
        )


class EntryOut(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    kind = serializers.CharField(source="transaction_kind")
    account = serializers.CharField(source="account_kind")
    amount = money_out()
    balance_after = money_out()
    memo = serializers.CharField()
    payment = serializers.CharField(source="payment_reference", allow_null=True)
    payout = serializers.CharField(source="payout_reference", allow_null=True)


class EntriesOut(serializers.Serializer):
    data = EntryOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class PayoutIn(StrictSerializer):
    currency = serializers.ChoiceField(choices=Currency.values, default=Currency.TZS)
    method = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)


class PayoutOut(serializers.Serializer):
    reference = serializers.CharField()
    creator = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    amount = money_out()
    currency = serializers.CharField()
    method = serializers.IntegerField(source="method_id", allow_null=True)
    destination = serializers.CharField(source="destination_label")
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    returned_at = serializers.DateTimeField(allow_null=True)

    def get_creator(self, payout: Any) -> str | None:
        return _external_id(payout.creator)

    def get_status(self, payout: Any) -> str:
        return str(payout.status).lower()


class PayoutsOut(serializers.Serializer):
    data = PayoutOut(many=True)
    next_cursor = serializers.CharField(allow_null=True)
