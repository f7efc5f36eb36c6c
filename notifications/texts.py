"""What each notification says, in English and Swahili (locale/sw).

Context values arrive formatted for people: amounts as "TZS 25,000" (core.money
.format_money), destinations masked; datetimes may be passed as they are and are shown in
Tanzania's time. `render` is called inside translation.override.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import Notification

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

Kind = Notification.Kind

# Keyed by Kind; looked up with a notification's kind, a plain string (Kind members are strings).
TEXTS: dict[str, tuple[StrPromise, StrPromise]] = {
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
            "Hello %(name)s,\n\nYour payout of %(amount)s to %(destination)s is being processed.%(withheld)s "
            "We will tell you when it arrives.\n\nBlinno"
        ),
    ),
    Kind.PAYOUT_PAID: (
        gettext_lazy("Your payout of %(amount)s has been paid"),
        gettext_lazy(
            "Hello %(name)s,\n\nYour payout of %(amount)s was sent to %(destination)s.%(withheld)s "
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
    Kind.PAYMENT_REVERSED: (
        gettext_lazy("Your payment for order #%(order)s was returned to you"),
        gettext_lazy(
            "Hello %(name)s,\n\nClickPesa returned your payment of %(total)s for order #%(order)s "
            "(reference %(reference)s) to you. The order is cancelled.\n\nBlinno"
        ),
    ),
    Kind.SALE_REVERSED: (
        gettext_lazy("A payment for order #%(order)s was reversed"),
        gettext_lazy(
            "Hello %(name)s,\n\nThe buyer's payment for order #%(order)s was returned to them by "
            "ClickPesa, so your earnings of %(amount)s from it are taken back. %(owed)s\n\nBlinno"
        ),
    ),
    Kind.MONTHLY_STATEMENT: (
        gettext_lazy("Your Blinno statement for %(month)s"),
        gettext_lazy(
            "Hello %(name)s,\n\nYour statement for %(month)s is attached (PDF). Opening balance %(opening)s, "
            "closing balance %(closing)s.\n\nBlinno"
        ),
    ),
    Kind.REFUND_PAID: (
        gettext_lazy("Your refund of %(amount)s has been paid"),
        gettext_lazy(
            "Hello %(name)s,\n\nWe sent your refund of %(amount)s to %(destination)s. "
            "Reference: %(reference)s.\n\nBlinno"
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

# ClickPesa's failure messages, in words a buyer understands. Each pattern matches whole
# words of the gateway's message, first match wins.
_BUYER_REASONS = (
    (r"insufficient|not enough|low balance", gettext_lazy("your mobile money balance was not enough")),
    (r"time ?out|timed out|expired", gettext_lazy("the request on your phone expired before it was confirmed")),
    (r"cancel\w*|declined by (?:the )?(?:user|customer)", gettext_lazy("the payment was cancelled on your phone")),
    (r"pin", gettext_lazy("the PIN entered was not accepted")),
    (r"limits?", gettext_lazy("the amount is above your wallet's limit")),
    (r"reject\w*|declined?", gettext_lazy("the payment was declined")),
)
_BUYER_PATTERNS = [(re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE), reason) for pattern, reason in _BUYER_REASONS]

# Why a payout came back, in words a creator understands. An unknown message is shown as
# ClickPesa gave it, since the detail may be what the creator needs to fix.
_PAYOUT_REASONS = (
    (
        r"invalid account|account (?:information|details|number)|wrong account",
        gettext_lazy("the account details were not accepted; please check your payout method"),
    ),
    (r"revers\w*", gettext_lazy("the bank or mobile money operator sent it back")),
    (r"refund\w*|processing error", gettext_lazy("ClickPesa could not process it")),
    (r"cancel\w*", gettext_lazy("it was cancelled before it was sent")),
    (r"failed", gettext_lazy("the payment provider refused it")),
)
_PAYOUT_PATTERNS = [(re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE), reason) for pattern, reason in _PAYOUT_REASONS]

# How a moment is written for a reader: "5 January 2027, 14:30 EAT" / "5 Januari 2027, 14:30 EAT".
DATETIME_FORMAT = "j F Y, H:i T"
DATE_FORMAT = "j F Y"


def buyer_reason(gateway_message: str) -> str:
    """Translate a gateway failure message into a reason a buyer understands, in the active language."""
    for pattern, reason in _BUYER_PATTERNS:
        if pattern.search(gateway_message or ""):
            return str(reason)
    return _("the payment could not be completed")


def payout_reason(gateway_message: str) -> str:
    """Why a payout came back, in words a creator understands, in the active language.

    ClickPesa's own words follow in brackets when they say more than a status word, so
    that support and the creator can still quote them.
    """
    message = (gateway_message or "").strip()
    for pattern, reason in _PAYOUT_PATTERNS:
        if pattern.search(message):
            return f"{reason} (ClickPesa: {message})" if " " in message else str(reason)
    return message or _("no reason was given")


def _display(value: object) -> str:
    """A context value as a reader sees it: moments in Tanzania's time and the reader's language."""
    if isinstance(value, datetime):
        return date_format(timezone.localtime(value, timezone.get_default_timezone()), DATETIME_FORMAT)
    if isinstance(value, date):
        return date_format(value, DATE_FORMAT)
    if isinstance(value, Decimal | float):
        # A bare number would lose its currency; callers format amounts with format_money.
        raise TypeError(f"amount {value!r} given without its currency; use core.money.format_money")
    return str(value)


def render(kind: str, context: Mapping[str, object]) -> tuple[str, str]:
    """The subject and body of a notification of `kind`, in the active language.

    Context values are shown as given, except datetimes (shown in Africa/Dar_es_Salaam,
    month names in the active language) and dates; a bare Decimal or float is refused.
    """
    subject, body = TEXTS[kind]
    values = {key: _display(value) for key, value in context.items()}
    # Words that depend on the reader's language are chosen here, not by the caller.
    if kind == Kind.PAYMENT_FAILED:
        values["reason"] = buyer_reason(values.get("gateway_message", ""))
    if kind == Kind.PAYOUT_RETURNED:
        values["reason"] = payout_reason(values.get("reason", ""))
    if kind == Kind.SALE_REVERSED:
        owed = values.get("owed", "")
        values["owed"] = (
            _("You had already been paid part of it: %(owed)s will be taken from your next earnings.") % {"owed": owed}
            if owed
            else _("It came out of your balance.")
        )
    if kind in (Kind.PAYOUT_SENT, Kind.PAYOUT_PAID):
        tax = values.get("withholding_tax")
        values["withheld"] = (
            " "
            + _(
                "Withholding tax of %(tax)s was deducted from %(gross)s and is paid to the Tanzania Revenue "
                "Authority for you."
            )
            % {"tax": tax, "gross": values.get("gross", "")}
            if tax
            else ""
        )
    if kind == Kind.SALE:
        held_until = values.get("held_until")
        values["where"] = (
            _("held until %(date)s, then available for payout") % {"date": held_until}
            if held_until
            else _("available for payout now")
        )
    return str(subject) % values, str(body) % values
