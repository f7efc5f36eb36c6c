"""What each notification says, in English and Swahili (locale/sw).

Context values arrive already formatted for people: amounts as "TZS 25,000" (revenue.money
.format_money), destinations masked. `render` is called inside translation.override.
"""

from collections.abc import Mapping

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import Notification

Kind = Notification.Kind

TEXTS = {
    Kind.SALE: (
        gettext_lazy("You made a sale: %(amount)s"),
        gettext_lazy(
            "Hello %(name)s,\n\n%(buyer)s paid for order #%(order)s. Your earnings of %(amount)s "
            "(after Blinno's fee of %(fee)s) are %(where)s.\n\nBlinno"
        ),
    ),
    Kind.RECEIPT: (
        gettext_lazy("Your receipt for order #%(order)s"),
        gettext_lazy(
            "Hello %(name)s,\n\nWe received your payment of %(total)s for order #%(order)s "
            "(%(subtotal)s plus a processing fee of %(processing_fee)s). Payment reference: %(reference)s."
            "\n\nThank you,\nBlinno"
        ),
    ),
    Kind.PAYMENT_FAILED: (
        gettext_lazy("Your payment for order #%(order)s did not go through"),
        gettext_lazy(
            "Hello %(name)s,\n\nYour payment of %(total)s for order #%(order)s did not go through: "
            "%(reason)s. No money was taken. You can try again from your order page.\n\nBlinno"
        ),
    ),
    Kind.PAYOUT_SENT: (
        gettext_lazy("Your payout of %(amount)s is on its way"),
        gettext_lazy(
            "Hello %(name)s,\n\nYour payout of %(amount)s to %(destination)s is being processed. "
            "We will tell you when it arrives.\n\nBlinno"
        ),
    ),
    Kind.PAYOUT_PAID: (
        gettext_lazy("Your payout of %(amount)s has been paid"),
        gettext_lazy(
            "Hello %(name)s,\n\nYour payout of %(amount)s was sent to %(destination)s. "
            "Reference: %(reference)s.\n\nBlinno"
        ),
    ),
    Kind.PAYOUT_RETURNED: (
        gettext_lazy("Your payout of %(amount)s was returned"),
        gettext_lazy(
            "Hello %(name)s,\n\nYour payout of %(amount)s to %(destination)s could not be completed: "
            "%(reason)s. The money is back in your available balance.\n\nBlinno"
        ),
    ),
    Kind.FINANCE_ALERT: (
        gettext_lazy("[Blinno finance] %(title)s"),
        gettext_lazy("%(title)s\n\n%(detail)s"),
    ),
    Kind.STAFF_ALERT: (
        gettext_lazy("[Blinno alert] %(title)s"),
        gettext_lazy("%(title)s\n\n%(detail)s"),
    ),
}

# ClickPesa's failure messages, in words a buyer understands.
_BUYER_REASONS = (
    ("insufficient", gettext_lazy("your mobile money balance was not enough")),
    ("timeout", gettext_lazy("the request on your phone expired before it was confirmed")),
    ("expired", gettext_lazy("the request on your phone expired before it was confirmed")),
    ("cancel", gettext_lazy("the payment was cancelled on your phone")),
    ("reject", gettext_lazy("the payment was declined")),
    ("pin", gettext_lazy("the PIN entered was not accepted")),
    ("limit", gettext_lazy("the amount is above your wallet's limit")),
)


def buyer_reason(gateway_message: str) -> str:
    """Translate a gateway failure message into a reason a buyer understands."""
    lowered = (gateway_message or "").lower()
    for needle, reason in _BUYER_REASONS:
        if needle in lowered:
            return str(reason)
    return _("the payment could not be completed")


def render(kind: str, context: Mapping[str, object]) -> tuple[str, str]:
    """The subject and body of a notification of `kind`, in the active language."""
    subject, body = TEXTS[kind]
    values = {key: str(value) for key, value in context.items()}
    # Words that depend on the reader's language are chosen here, not by the caller.
    if kind == Kind.PAYMENT_FAILED:
        values["reason"] = buyer_reason(values.get("gateway_message", ""))
    if kind == Kind.SALE:
        held_until = values.get("held_until")
        values["where"] = (
            _("held until %(date)s, then available for payout") % {"date": held_until}
            if held_until
            else _("available for payout now")
        )
    return str(subject) % values, str(body) % values
