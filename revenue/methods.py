"""A creator's payout methods: a mobile wallet checked by its prefix, a bank account by ClickPesa's BIC list.

Where ClickPesa credentials exist, the bank's BIC must be in ClickPesa's bank list (cached a
day) and the holder's name is compared with the one ClickPesa's payout preview gives.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from clickpesa.client import BankPayout, ClickPesaClient, ClickPesaError, credentials_configured
from core.money import Currency
from core.phones import phone_parse
from core.references import new_reference
from core.users import User

from .models import PayoutMethod
from .payouts import PayoutError

logger = logging.getLogger(__name__)

_BANKS_CACHE_KEY = "clickpesa:banks"
_BANKS_CACHE_SECONDS = 24 * 3600
_BIC_LENGTHS = (8, 11)


def _clickpesa_banks() -> dict[str, str]:
    """ClickPesa's banks by BIC, cached; empty without credentials."""
    banks = cache.get(_BANKS_CACHE_KEY)
    if banks is None:
        with ClickPesaClient() as client:
            banks = {bank.bic: bank.name for bank in client.banks()}
        cache.set(_BANKS_CACHE_KEY, banks, _BANKS_CACHE_SECONDS)
    return banks


def _words(name: str) -> set[str]:
    return {word for word in name.casefold().replace(".", " ").split() if len(word) > 1 and word.isalpha()}


def _check_holder(kind: str, number: str, name: str, bic: str) -> None:
    """Compare ``name`` with the holder's name ClickPesa's preview gives; skipped when it gives none.

    Names are written many ways ("JOHN M DOE", "John Doe"): one shared word is a match.
    A preview ClickPesa cannot answer now (an outage, a low merchant balance) checks nothing.
    """
    minimum = settings.PAYOUT_MINIMUM[Currency.TZS]
    try:
        with ClickPesaClient() as client:
            if kind == PayoutMethod.Kind.MOBILE_WALLET:
                preview = client.preview_mobile_money_payout(
                    amount=minimum, phone_number=number, currency=Currency.TZS, order_reference=new_reference("BLNPV")
                )
            else:
                preview = client.preview_bank_payout(
                    BankPayout(
                        amount=minimum,
                        account_number=number,
                        account_name=name,
                        bic=bic,
                        transfer_type="ACH",
                        currency=Currency.TZS,
                        account_currency=Currency.TZS,
                        order_reference=new_reference("BLNPV"),
                    )
                )
    except ClickPesaError as exc:
        if exc.definitive and exc.code != "clickpesa_insufficient_balance":
            raise PayoutError(f"ClickPesa refused this destination: {exc.message}", code="destination_refused") from exc
        logger.warning("payout method holder check skipped: %s", exc.code)
        return
    holder = preview.receiver_name
    if _words(holder) and not _words(holder) & _words(name):
        raise PayoutError(
            f"The account holder's name at ClickPesa is {holder!r}, not {name!r}.", code="account_name_mismatch"
        )


def payout_method_add(
    creator: User, *, kind: str, account_number: str, account_name: str, bic: str = "", make_default: bool = False
) -> PayoutMethod:
    """Save a payout destination for a creator; the first one (or ``make_default``) becomes the default.

    The checks (and ClickPesa's answers) come before the transaction that writes the row.

    A mobile wallet's number is read in any Tanzanian form and its operator named from the
    prefix (``InvalidPhoneNumber`` otherwise). A bank account needs a BIC ClickPesa pays to.
    """
    if not creator.is_creator:
        raise PayoutError(f"{creator} is not a creator.", code="not_a_creator")
    name = " ".join(account_name.split())
    if not name:
        raise PayoutError("The account holder's name is required.", code="account_name_required")
    if kind == PayoutMethod.Kind.MOBILE_WALLET:
        phone = phone_parse(account_number)
        number, provider, bic = phone.number, phone.operator.value, ""
    else:
        number, bic = "".join(account_number.split()), bic.strip().upper()
        if not number.isalnum():
            raise PayoutError("A bank account number is letters and digits.", code="invalid_account_number")
        if len(bic) not in _BIC_LENGTHS or not bic.isalnum():
            raise PayoutError(f"{bic!r} is not a BIC (8 or 11 letters and digits).", code="invalid_bic")
        banks = _clickpesa_banks() if credentials_configured() else {}
        if credentials_configured() and bic not in banks:
            raise PayoutError(f"ClickPesa pays no bank with BIC {bic}.", code="unknown_bank")
        provider = banks.get(bic, bic)
    if credentials_configured():
        _check_holder(kind, number, name, bic)
    with transaction.atomic():
        _lock_creator(creator)
        first = not PayoutMethod.objects.filter(creator=creator).exists()
        if make_default and not first:
            PayoutMethod.objects.filter(creator=creator, is_default=True).update(is_default=False)
        return PayoutMethod.objects.create(
            creator=creator,
            kind=kind,
            provider=provider[:60],
            account_number=number,
            account_name=name[:120],
            bic=bic,
            is_default=first or make_default,
        )


def _lock_creator(creator: User) -> None:
    # The creator's row serialises changes to their methods: two "first" methods cannot both be default.
    type(creator).objects.select_for_update().filter(pk=creator.pk).first()


@transaction.atomic
def payout_method_make_default(method: PayoutMethod) -> PayoutMethod:
    """Make ``method`` its creator's default (one default per creator, by a partial unique index)."""
    _lock_creator(method.creator)
    PayoutMethod.objects.filter(creator_id=method.creator_id, is_default=True).exclude(pk=method.pk).update(
        is_default=False
    )
    PayoutMethod.objects.filter(pk=method.pk).update(is_default=True)
    method.is_default = True
    return method
