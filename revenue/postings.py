"""Every ledger posting of the business, one function per moment of docs/architecture.md's table.

Each builds the entries of its moment and posts them through :func:`revenue.ledger.ledger_post`
under the moment's idempotency key, so a repeated call is a no-op and a conflicting one an error.
They run inside the caller's transaction, after the caller has taken the row locks it needs.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from core.users import User

from .ledger import LedgerError, account_book, credit, debit, ledger_post
from .models import Deposit, LedgerAccount, LedgerTransaction, Payout, PlatformFee

Kind = LedgerAccount.Kind
TxnKind = LedgerTransaction.Kind


def post_capture(
    *,
    payment_id: int,
    reference: str,
    order_id: int,
    currency: str,
    total: Decimal,
    processing_fee: Decimal,
    fees: Iterable[PlatformFee],
    earnings_kind: str,
) -> None:
    """Payment received: Dr gateway cash the total; Cr each creator's earnings (pending or
    available), the platform fees and the buyer's processing fee. Key ``payment:<id>:capture``."""
    earnings: dict[int, Decimal] = defaultdict(Decimal)
    platform_fees = Decimal(0)
    for fee in fees:
        earnings[fee.creator_id] += fee.creator_amount
        platform_fees += fee.platform_fee
    book = account_book(
        currency,
        creator_ids=earnings,
        creator_kinds=[earnings_kind],
        platform_kinds=[Kind.GATEWAY_CASH, Kind.PLATFORM_FEES, Kind.PROCESSING_FEES],
    )
    postings = [debit(book.platform(Kind.GATEWAY_CASH), total)]
    postings += [credit(book.creator(c, earnings_kind), a) for c, a in sorted(earnings.items()) if a > 0]
    if platform_fees > 0:
        postings.append(credit(book.platform(Kind.PLATFORM_FEES), platform_fees))
    if processing_fee > 0:
        postings.append(credit(book.platform(Kind.PROCESSING_FEES), processing_fee))
    ledger_post(
        kind=TxnKind.PAYMENT_CAPTURE,
        idempotency_key=f"payment:{payment_id}:capture",
        postings=postings,
        memo=f"Payment {reference} for order #{order_id}",
        payment_id=payment_id,
    )


def post_release(*, payment_id: int, order_id: int, creator_id: int, currency: str, amount: Decimal) -> None:
    """A hold ended: Dr the creator's pending, Cr their available. Key ``payment:<id>:creator:<id>:release``."""
    book = account_book(currency, creator_ids=[creator_id])
    ledger_post(
        kind=TxnKind.EARNINGS_RELEASE,
        idempotency_key=f"payment:{payment_id}:creator:{creator_id}:release",
        postings=[
            debit(book.creator(creator_id, Kind.CREATOR_PENDING), amount),
            credit(book.creator(creator_id, Kind.CREATOR_AVAILABLE), amount),
        ],
        memo=f"Hold ended for order #{order_id}",
        payment_id=payment_id,
    )


def post_reserve(payout: Payout, *, requested_by: User | None) -> None:
    """Payout requested: Dr the creator's available, Cr their in flight. Key ``payout:<id>:reserve``.

    Raises ``InsufficientFunds`` when the available balance does not cover it.
    """
    book = account_book(payout.currency, creator_ids=[payout.creator_id])
    ledger_post(
        kind=TxnKind.PAYOUT_RESERVE,
        idempotency_key=f"payout:{payout.pk}:reserve",
        postings=[
            debit(book.creator(payout.creator_id, Kind.CREATOR_AVAILABLE), payout.amount),
            credit(book.creator(payout.creator_id, Kind.CREATOR_PAYOUT_IN_FLIGHT), payout.amount),
        ],
        memo=f"Payout {payout.reference} requested",
        payout=payout,
        posted_by=requested_by,
    )


def post_settle(payout: Payout) -> None:
    """Payout paid: Dr in flight, Cr gateway cash; ClickPesa's fee Dr payout fees, Cr gateway cash.
    Key ``payout:<id>:settle``."""
    book = account_book(
        payout.currency,
        creator_ids=[payout.creator_id],
        creator_kinds=[Kind.CREATOR_PAYOUT_IN_FLIGHT],
        platform_kinds=[Kind.GATEWAY_CASH, Kind.PAYOUT_FEES],
    )
    cash = book.platform(Kind.GATEWAY_CASH)
    postings = [
        debit(book.creator(payout.creator_id, Kind.CREATOR_PAYOUT_IN_FLIGHT), payout.amount),
        credit(cash, payout.amount),
    ]
    if payout.gateway_fee:
        postings += [debit(book.platform(Kind.PAYOUT_FEES), payout.gateway_fee), credit(cash, payout.gateway_fee)]
    ledger_post(
        kind=TxnKind.PAYOUT_SETTLE,
        idempotency_key=f"payout:{payout.pk}:settle",
        postings=postings,
        memo=f"Payout {payout.reference} paid",
        payout=payout,
    )


def post_return(payout: Payout, *, from_status: str, fee_returned: bool) -> None:
    """Give a payout's money back to the creator's available balance: one ``payout:<id>:return``.

    Before payment it leaves the in-flight account; after payment it comes back into gateway
    cash (ClickPesa returned it to our balance), with ClickPesa's fee when that came back too.
    The key is the same whichever return event comes first, so a second one never posts again.
    """
    book = account_book(
        payout.currency,
        creator_ids=[payout.creator_id],
        platform_kinds=[Kind.GATEWAY_CASH, Kind.PAYOUT_FEES],
    )
    available = book.creator(payout.creator_id, Kind.CREATOR_AVAILABLE)
    if from_status == Payout.Status.PAID:
        postings = [debit(book.platform(Kind.GATEWAY_CASH), payout.amount), credit(available, payout.amount)]
        if fee_returned and payout.gateway_fee:
            postings += [
                debit(book.platform(Kind.GATEWAY_CASH), payout.gateway_fee),
                credit(book.platform(Kind.PAYOUT_FEES), payout.gateway_fee),
            ]
    else:
        in_flight = book.creator(payout.creator_id, Kind.CREATOR_PAYOUT_IN_FLIGHT)
        postings = [debit(in_flight, payout.amount), credit(available, payout.amount)]
    ledger_post(
        kind=TxnKind.PAYOUT_RETURN,
        idempotency_key=f"payout:{payout.pk}:return",
        postings=postings,
        memo=f"Payout {payout.reference} returned ({from_status} -> {payout.status})",
        payout=payout,
    )


def post_deposit(deposit: Deposit) -> None:
    """A top-up of our ClickPesa balance: Dr gateway cash, Cr merchant funding. Key ``deposit:<reference>``."""
    book = account_book(deposit.currency, creator_kinds=(), platform_kinds=[Kind.GATEWAY_CASH, Kind.MERCHANT_FUNDING])
    ledger_post(
        kind=TxnKind.DEPOSIT,
        idempotency_key=f"deposit:{deposit.reference}",
        postings=[
            debit(book.platform(Kind.GATEWAY_CASH), deposit.amount),
            credit(book.platform(Kind.MERCHANT_FUNDING), deposit.amount),
        ],
        memo=f"ClickPesa top-up {deposit.reference}",
        deposit=deposit,
    )


def post_adjustment(
    *,
    debit_account: LedgerAccount,
    credit_account: LedgerAccount,
    amount: Decimal,
    reason: str,
    by: User,
    idempotency_key: str | None = None,
) -> LedgerTransaction:
    """A staff correction between two accounts of one currency, with a mandatory reason."""
    if not reason.strip():
        raise LedgerError("A reason is required for a manual adjustment.", code="reason_required")
    if debit_account.currency != credit_account.currency:
        raise LedgerError("Both accounts of an adjustment must be in the same currency.", code="currency_mismatch")
    if debit_account.pk == credit_account.pk:
        raise LedgerError("Debit and credit accounts must differ.", code="same_account")
    txn, _ = ledger_post(
        kind=TxnKind.ADJUSTMENT,
        idempotency_key=idempotency_key or f"adjustment:{uuid.uuid4().hex}",
        postings=[debit(debit_account, amount), credit(credit_account, amount)],
        memo=f"{reason.strip()} (by {by})",
        posted_by=by,
    )
    return txn
