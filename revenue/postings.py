"""Every ledger posting of the business, one function per moment of docs/architecture.md's table.

Each builds the entries of its moment and posts them through :func:`revenue.ledger.ledger_post`
under the moment's idempotency key, so a repeated call is a no-op and a conflicting one an error.
They run inside the caller's transaction, after the caller has taken the row locks it needs.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from core.money import format_money
from core.users import User

from .ledger import (
    AccountBook,
    LedgerError,
    Post,
    Posting,
    account_book,
    credit,
    debit,
    ledger_post,
    ledger_post_many,
    lock_receivables,
)
from .models import Deposit, LedgerAccount, LedgerTransaction, Payout, PlatformFee
from .tax import vat_split

Kind = LedgerAccount.Kind
TxnKind = LedgerTransaction.Kind


@dataclass(frozen=True)
class Capture:
    """One payment received, as its posting sees it: the payment, its order's figures and fee rows."""

    payment_id: int
    reference: str
    order_id: int
    currency: str
    total: Decimal
    processing_fee: Decimal
    fees: Sequence[PlatformFee]
    earnings_kind: str


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
    available), the platform fees and the buyer's processing fee, each net of the VAT inside it,
    and VAT payable that VAT. Key ``payment:<id>:capture``.

    Earnings credited as available first pay back what the creator owes Blinno (a
    ``RECEIVABLE_RECOVERY`` per creator, in the same transaction, so no payout can reserve them
    first); held earnings do so when they are released (:func:`post_release`). One capture of
    :func:`post_captures`.
    """
    capture = Capture(payment_id, reference, order_id, currency, total, processing_fee, list(fees), earnings_kind)
    post_captures([capture])


def post_captures(captures: Sequence[Capture]) -> None:
    """Post captures, one (a webhook settled in its request) or many (a settler's batch), in a few statements.

    One account book per currency; each capture's entries are :func:`capture_postings`'; all the
    transactions go in with one ``ledger_post_many``. Then the receivables of creators whose
    earnings became available are recovered capture by capture, in order, each recovery bounded
    by what is still owed: the same rows as the captures posted one after the other.
    """
    by_currency: dict[str, list[Capture]] = defaultdict(list)
    for capture in captures:
        by_currency[capture.currency].append(capture)
    posts: list[Post] = []
    recoveries: list[tuple[AccountBook, dict[int, Decimal], dict[int, Decimal], Capture]] = []
    for currency, group in by_currency.items():
        shares = [_shares(capture.fees) for capture in group]
        book = account_book(
            currency,
            creator_ids={creator_id for earnings, _ in shares for creator_id in earnings},
            creator_kinds={capture.earnings_kind for capture in group} | {Kind.CREATOR_RECEIVABLE},
            platform_kinds=CAPTURE_PLATFORM_KINDS,
        )
        made_available: dict[int, Decimal] = defaultdict(Decimal)
        for capture, (earnings, _) in zip(group, shares, strict=True):
            if capture.earnings_kind == Kind.CREATOR_AVAILABLE:
                for creator_id, amount in earnings.items():
                    made_available[creator_id] += amount
        owed = _owed(book, made_available)
        for capture, (earnings, platform_fees) in zip(group, shares, strict=True):
            postings = capture_postings(
                book,
                total=capture.total,
                processing_fee=capture.processing_fee,
                platform_fees=platform_fees,
                earnings=earnings,
                earnings_kind=capture.earnings_kind,
            )
            posts.append(
                Post(
                    kind=TxnKind.PAYMENT_CAPTURE,
                    idempotency_key=f"payment:{capture.payment_id}:capture",
                    postings=postings,
                    memo=f"Payment {capture.reference} for order #{capture.order_id}",
                    payment_id=capture.payment_id,
                )
            )
            if capture.earnings_kind == Kind.CREATOR_AVAILABLE:
                recoveries.append((book, owed, earnings, capture))
    ledger_post_many(posts)
    for book, owed, earnings, capture in recoveries:
        _recover(book, owed, earnings, payment_id=capture.payment_id, memo=f"from order #{capture.order_id}")


def _shares(fees: Iterable[PlatformFee]) -> tuple[dict[int, Decimal], Decimal]:
    """Each creator's earnings and the platform's fees, from an order's fee rows."""
    earnings: dict[int, Decimal] = defaultdict(Decimal)
    platform_fees = Decimal(0)
    for fee in fees:
        earnings[fee.creator_id] += fee.creator_amount
        platform_fees += fee.platform_fee
    return earnings, platform_fees


CAPTURE_PLATFORM_KINDS = (Kind.GATEWAY_CASH, Kind.PLATFORM_FEES, Kind.PROCESSING_FEES, Kind.VAT_PAYABLE)
"""The platform accounts a capture touches: what an account book for :func:`capture_postings` fetches."""


def capture_postings(
    book: AccountBook,
    *,
    total: Decimal,
    processing_fee: Decimal,
    platform_fees: Decimal,
    earnings: Mapping[int, Decimal],
    earnings_kind: str,
) -> list[Posting]:
    """The entries of one ``PAYMENT_CAPTURE``: the one place a capture's composition is written.

    The fees are credited net of the VAT inside them at today's rate (revenue.tax.vat_split),
    the VAT to VAT payable; ``book`` holds :data:`CAPTURE_PLATFORM_KINDS`.
    """
    postings = [debit(book.platform(Kind.GATEWAY_CASH), total)]
    postings += [credit(book.creator(c, earnings_kind), a) for c, a in sorted(earnings.items()) if a > 0]
    split = vat_split(platform_fees, processing_fee, timezone.localdate())
    if split.platform_net > 0:
        postings.append(credit(book.platform(Kind.PLATFORM_FEES), split.platform_net))
    if split.processing_net > 0:
        postings.append(credit(book.platform(Kind.PROCESSING_FEES), split.processing_net))
    if split.vat > 0:
        postings.append(credit(book.platform(Kind.VAT_PAYABLE), split.vat))
    return postings


def _owed(book: AccountBook, earnings: Mapping[int, Decimal]) -> dict[int, Decimal]:
    """What the earning creators owe, their receivables locked first; only those the book shows owing.

    The book's balances were read without a lock: a receivable opened since is recovered at the
    next earnings or, at the latest, by the next payout request (revenue.services).
    """
    debtors = [
        c for c, amount in earnings.items() if amount > 0 and book.creator(c, Kind.CREATOR_RECEIVABLE).balance > 0
    ]
    return lock_receivables(book, debtors) if debtors else {}


def _recover(
    book: AccountBook, owed: dict[int, Decimal], earnings: Mapping[int, Decimal], *, payment_id: int, memo: str
) -> None:
    """Pay back receivables from earnings just made available: one recovery per payment and creator.

    ``owed`` is what each creator still owes; what is recovered comes off it, so the next
    capture of a batch recovers only the rest.
    """
    for creator_id, debt in sorted(owed.items()):
        amount = min(debt, earnings.get(creator_id, Decimal(0)))
        if amount > 0:
            owed[creator_id] = debt - amount
            post_recovery(
                book,
                creator_id=creator_id,
                amount=amount,
                idempotency_key=f"payment:{payment_id}:creator:{creator_id}:recovery",
                memo=f"Receivable recovered {memo}",
                payment_id=payment_id,
            )


def post_recovery(
    book: AccountBook,
    *,
    creator_id: int,
    amount: Decimal,
    idempotency_key: str,
    memo: str,
    payment_id: int | None = None,
    posted_by: User | None = None,
) -> None:
    """A creator pays back what they owe from their available balance: Dr available, Cr receivable.

    The caller holds the receivable's lock and bounds ``amount`` by the debt and the balance.
    """
    ledger_post(
        kind=TxnKind.RECEIVABLE_RECOVERY,
        idempotency_key=idempotency_key,
        postings=[
            debit(book.creator(creator_id, Kind.CREATOR_AVAILABLE), amount),
            credit(book.creator(creator_id, Kind.CREATOR_RECEIVABLE), amount),
        ],
        memo=memo,
        payment_id=payment_id,
        posted_by=posted_by,
    )


def post_reversal(
    *,
    payment_id: int,
    reference: str,
    order_id: int,
    currency: str,
    total: Decimal,
    processing_fee: Decimal,
    fees: Iterable[PlatformFee],
    charges: Decimal,
    why: str,
) -> LedgerTransaction:
    """ClickPesa took a captured payment back: undo the capture. Key ``payment:<id>:reversal``.

    Dr each creator's share from where it sits (pending while held, then available), and what
    their balances no longer cover (already paid out or in flight) to their receivable; Dr the
    platform and processing fees; Cr gateway cash the total. ClickPesa's charges, when it
    reversed with charges, are an expense paid from gateway cash. Each creator's receivable is
    locked first, then their other accounts, so the split is read under the locks.
    """
    shares: dict[int, Decimal] = defaultdict(Decimal)
    held: dict[int, Decimal] = defaultdict(Decimal)
    platform_fees = Decimal(0)
    captured_on = None
    for fee in fees:
        if fee.collected_at is not None:
            captured_on = timezone.localdate(fee.collected_at)
        shares[fee.creator_id] += fee.creator_amount
        if fee.released_at is None:
            held[fee.creator_id] += fee.creator_amount
        platform_fees += fee.platform_fee
    book = account_book(
        currency,
        creator_ids=shares,
        platform_kinds=[*CAPTURE_PLATFORM_KINDS, Kind.GATEWAY_CHARGES],
    )
    lock_receivables(book, shares)
    postings = _take_shares(book, shares, held)
    cash = book.platform(Kind.GATEWAY_CASH)
    split = vat_split(platform_fees, processing_fee, captured_on or timezone.localdate())
    if split.platform_net > 0:
        postings.append(debit(book.platform(Kind.PLATFORM_FEES), split.platform_net))
    if split.processing_net > 0:
        postings.append(debit(book.platform(Kind.PROCESSING_FEES), split.processing_net))
    if split.vat > 0:
        postings.append(debit(book.platform(Kind.VAT_PAYABLE), split.vat))
    postings.append(credit(cash, total))
    if charges > 0:
        postings += [debit(book.platform(Kind.GATEWAY_CHARGES), charges), credit(cash, charges)]
    txn, _ = ledger_post(
        kind=TxnKind.PAYMENT_REVERSAL,
        idempotency_key=f"payment:{payment_id}:reversal",
        postings=postings,
        memo=f"Payment {reference} for order #{order_id} {why}",
        payment_id=payment_id,
    )
    return txn


def _take_shares(book: AccountBook, shares: Mapping[int, Decimal], held: Mapping[int, Decimal]) -> list[Posting]:
    """Debit each creator's share: from pending (up to what is held there), then available, the rest
    to their receivable. Their balances are read under row locks (id order; receivables already held)."""
    kinds = (Kind.CREATOR_PENDING, Kind.CREATOR_AVAILABLE)
    wanted = [book.creator(c, k).pk for c in shares for k in kinds]
    balances = dict(
        LedgerAccount.objects.select_for_update().filter(pk__in=wanted).order_by("pk").values_list("pk", "balance")
    )
    postings: list[Posting] = []
    for creator_id, share in sorted(shares.items()):
        left = share
        pending = book.creator(creator_id, Kind.CREATOR_PENDING)
        available = book.creator(creator_id, Kind.CREATOR_AVAILABLE)
        for account, cap in ((pending, held.get(creator_id, Decimal(0))), (available, left)):
            taken = min(left, cap, balances[account.pk])
            if taken > 0:
                postings.append(debit(account, taken))
                left -= taken
        if left > 0:
            postings.append(debit(book.creator(creator_id, Kind.CREATOR_RECEIVABLE), left))
    return postings


def post_refund(
    *,
    payout: Payout,
    order_id: int,
    payment_id: int,
    shares: Mapping[int, Decimal],
    held: Mapping[int, Decimal],
    platform_fee: Decimal,
    captured_on: date,
    by: User,
) -> LedgerTransaction:
    """A refund to a buyer approved: Dr each creator's share of it (pending while held, then available,
    the rest to their receivable, as :func:`post_reversal`), Dr platform fees what the policy gives back;
    Cr refunds in flight what the buyer gets (the refund payout's amount). The fee given back leaves
    platform fees net of its VAT and VAT payable the VAT, at the capture's rate. Key ``refund:payout:<id>``."""
    book = account_book(
        payout.currency,
        creator_ids=shares,
        platform_kinds=[Kind.PLATFORM_FEES, Kind.VAT_PAYABLE, Kind.REFUNDS_IN_FLIGHT],
    )
    lock_receivables(book, shares)
    postings = _take_shares(book, shares, held)
    # The fee given back was credited net of its VAT at capture: both come back, at the capture's rate.
    split = vat_split(platform_fee, Decimal(0), captured_on)
    if split.platform_net > 0:
        postings.append(debit(book.platform(Kind.PLATFORM_FEES), split.platform_net))
    if split.vat > 0:
        postings.append(debit(book.platform(Kind.VAT_PAYABLE), split.vat))
    postings.append(credit(book.platform(Kind.REFUNDS_IN_FLIGHT), payout.amount))
    txn, _ = ledger_post(
        kind=TxnKind.REFUND,
        idempotency_key=f"refund:payout:{payout.pk}",
        postings=postings,
        memo=f"Refund {payout.reference} for order #{order_id}",
        payment_id=payment_id,
        payout=payout,
        posted_by=by,
    )
    return txn


def post_uncredited_refund(*, payout: Payout, payment_id: int, payment_reference: str, by: User) -> LedgerTransaction:
    """A refund of money ClickPesa collected for a payment our books never credited (one held for review):
    Dr gateway cash (the money arrived), Cr refunds in flight what the buyer gets back. No creator or fee
    account moves. Key ``refund:payout:<id>``, like every refund, so a return mirrors it
    (:func:`_refund_return_postings`): before ClickPesa paid, both entries undone; after, gateway cash
    back in and out, the money unbooked again."""
    book = account_book(payout.currency, platform_kinds=[Kind.GATEWAY_CASH, Kind.REFUNDS_IN_FLIGHT])
    txn, _ = ledger_post(
        kind=TxnKind.REFUND,
        idempotency_key=f"refund:payout:{payout.pk}",
        postings=[
            debit(book.platform(Kind.GATEWAY_CASH), payout.amount),
            credit(book.platform(Kind.REFUNDS_IN_FLIGHT), payout.amount),
        ],
        memo=f"Refund {payout.reference} of payment {payment_reference}, collected while held for review",
        payment_id=payment_id,
        payout=payout,
        posted_by=by,
    )
    return txn


def _refund_return_postings(payout: Payout, *, paid: bool, fee_returned: bool) -> list[Posting]:
    """The refund's entries mirrored: each creator's share back where it came from (a receivable's part
    to available, where a debt left since then is recovered as usual), the platform fee back; from refunds
    in flight before ClickPesa paid, from gateway cash (with its fee, if returned) after."""
    refund = LedgerTransaction.objects.get(payout=payout, kind=TxnKind.REFUND)
    entries = list(refund.entries.select_related("account"))
    creator_ids = {e.account.creator_id for e in entries if e.account.creator_id is not None}
    book = account_book(
        payout.currency,
        creator_ids=creator_ids,
        platform_kinds=[Kind.GATEWAY_CASH, Kind.PAYOUT_FEES, Kind.REFUNDS_IN_FLIGHT, Kind.PLATFORM_FEES],
    )
    postings: list[Posting] = []
    for entry in entries:
        account = entry.account
        if account.kind == Kind.REFUNDS_IN_FLIGHT:
            source = book.platform(Kind.GATEWAY_CASH) if paid else account
            postings.append(debit(source, entry.amount))
        elif account.kind == Kind.CREATOR_RECEIVABLE:
            assert account.creator_id is not None  # a receivable is a creator's
            postings.append(credit(book.creator(account.creator_id, Kind.CREATOR_AVAILABLE), entry.amount))
        else:
            postings.append(credit(account, entry.amount))
    if paid and fee_returned and payout.gateway_fee:
        postings += [
            debit(book.platform(Kind.GATEWAY_CASH), payout.gateway_fee),
            credit(book.platform(Kind.PAYOUT_FEES), payout.gateway_fee),
        ]
    return postings


def post_release(*, payment_id: int, order_id: int, creator_id: int, currency: str, amount: Decimal) -> None:
    """A hold ended: Dr the creator's pending, Cr their available. Key ``payment:<id>:creator:<id>:release``.

    What the creator owes Blinno is then recovered from it first (see :func:`post_capture`).
    """
    book = account_book(currency, creator_ids=[creator_id])
    owed = _owed(book, {creator_id: amount})
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
    _recover(book, owed, {creator_id: amount}, payment_id=payment_id, memo=f"from order #{order_id}")


def post_reserve(payout: Payout, *, requested_by: User | None) -> None:
    """Payout requested: Dr the creator's available the gross, Cr their in flight the amount to
    send and WHT payable the tax withheld. Key ``payout:<id>:reserve``.

    Raises ``InsufficientFunds`` when the available balance does not cover it.
    """
    book = account_book(payout.currency, creator_ids=[payout.creator_id], platform_kinds=[Kind.WHT_PAYABLE])
    postings = [
        debit(book.creator(payout.creator_id, Kind.CREATOR_AVAILABLE), payout.gross_amount),
        credit(book.creator(payout.creator_id, Kind.CREATOR_PAYOUT_IN_FLIGHT), payout.amount),
    ]
    if payout.withholding_tax:
        postings.append(credit(book.platform(Kind.WHT_PAYABLE), payout.withholding_tax))
    ledger_post(
        kind=TxnKind.PAYOUT_RESERVE,
        idempotency_key=f"payout:{payout.pk}:reserve",
        postings=postings,
        memo=f"Payout {payout.reference} requested",
        payout=payout,
        posted_by=requested_by,
    )


def post_settle(payout: Payout) -> None:
    """Payout paid: Dr in flight (the creator's, or refunds in flight for a refund to a buyer), Cr gateway
    cash; ClickPesa's fee Dr payout fees, Cr gateway cash. Key ``payout:<id>:settle``."""
    refund = payout.purpose == Payout.Purpose.REFUND
    book = account_book(
        payout.currency,
        creator_ids=() if refund else [payout.creator_id],
        creator_kinds=[Kind.CREATOR_PAYOUT_IN_FLIGHT],
        platform_kinds=[Kind.GATEWAY_CASH, Kind.PAYOUT_FEES, Kind.REFUNDS_IN_FLIGHT],
    )
    cash = book.platform(Kind.GATEWAY_CASH)
    in_flight = (
        book.platform(Kind.REFUNDS_IN_FLIGHT)
        if refund
        else book.creator(payout.creator_id, Kind.CREATOR_PAYOUT_IN_FLIGHT)
    )
    postings = [debit(in_flight, payout.amount), credit(cash, payout.amount)]
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
    The tax withheld comes back too: nothing was paid, so nothing is due on it.
    The key is the same whichever return event comes first, so a second one never posts again.
    A refund to a buyer that came back undoes its refund instead (:func:`_refund_return_postings`).
    """
    if payout.purpose == Payout.Purpose.REFUND:
        ledger_post(
            kind=TxnKind.REFUND_RETURN,
            idempotency_key=f"payout:{payout.pk}:return",
            postings=_refund_return_postings(payout, paid=from_status == Payout.Status.PAID, fee_returned=fee_returned),
            memo=f"Refund {payout.reference} returned ({from_status} -> {payout.status})",
            payout=payout,
        )
        return
    book = account_book(
        payout.currency,
        creator_ids=[payout.creator_id],
        platform_kinds=[Kind.GATEWAY_CASH, Kind.PAYOUT_FEES, Kind.WHT_PAYABLE],
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
    if payout.withholding_tax:
        postings += [
            debit(book.platform(Kind.WHT_PAYABLE), payout.withholding_tax),
            credit(available, payout.withholding_tax),
        ]
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


def post_shortfall_write_off(*, payment_id: int, reference: str, currency: str, shortfall: Decimal, by: User) -> None:
    """Finance captured a reviewed payment for which ClickPesa collected less than the capture booked:
    Dr collection write-offs, Cr gateway cash the shortfall. Key ``payment:<id>:shortfall``."""
    book = account_book(currency, creator_kinds=(), platform_kinds=[Kind.GATEWAY_CASH, Kind.WRITE_OFFS])
    ledger_post(
        kind=TxnKind.ADJUSTMENT,
        idempotency_key=f"payment:{payment_id}:shortfall",
        postings=[
            debit(book.platform(Kind.WRITE_OFFS), shortfall),
            credit(book.platform(Kind.GATEWAY_CASH), shortfall),
        ],
        memo=f"Collection shortfall on payment {reference} written off (by {by})",
        payment_id=payment_id,
        posted_by=by,
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
    """A staff correction between two accounts of one currency, with a mandatory reason.

    Never touches a creator's payout in flight, and never exceeds ``ADJUSTMENT_MAXIMUM``.
    """
    if not reason.strip():
        raise LedgerError("A reason is required for a manual adjustment.", code="reason_required")
    if debit_account.currency != credit_account.currency:
        raise LedgerError("Both accounts of an adjustment must be in the same currency.", code="currency_mismatch")
    if debit_account.pk == credit_account.pk:
        raise LedgerError("Debit and credit accounts must differ.", code="same_account")
    if Kind.CREATOR_PAYOUT_IN_FLIGHT in (debit_account.kind, credit_account.kind):
        # A payout's money in flight is moved by its payout alone (settle or return), never by hand:
        # moving it back to available and requesting it again would pay it twice.
        raise LedgerError("Only the payout machinery moves a payout's money in flight.", code="in_flight_account")
    maximum = settings.ADJUSTMENT_MAXIMUM.get(debit_account.currency)
    if maximum is not None and amount > maximum:
        raise LedgerError(
            f"An adjustment may not exceed {format_money(maximum, debit_account.currency)}.", code="above_maximum"
        )
    txn, _ = ledger_post(
        kind=TxnKind.ADJUSTMENT,
        idempotency_key=idempotency_key or f"adjustment:{uuid.uuid4().hex}",
        postings=[debit(debit_account, amount), credit(credit_account, amount)],
        memo=f"{reason.strip()} (by {by})",
        posted_by=by,
    )
    return txn


def post_tax_remittance(
    *, tax_kind: str, source_kind: str, currency: str, amount: Decimal, reference: str, note: str, by: User
) -> LedgerTransaction:
    """Tax paid to the authority: Dr VAT or WHT payable, Cr gateway cash or Blinno's bank account.

    Key ``tax-remittance:<tax kind>:<reference>`` (the authority's payment reference): one
    remittance per payment slip, however often the form is sent.
    """
    book = account_book(currency, creator_kinds=(), platform_kinds=[tax_kind, source_kind])
    txn, _ = ledger_post(
        kind=TxnKind.TAX_REMITTANCE,
        idempotency_key=f"tax-remittance:{tax_kind}:{reference}",
        postings=[debit(book.platform(tax_kind), amount), credit(book.platform(source_kind), amount)],
        memo=f"{note} (by {by})",
        posted_by=by,
    )
    return txn
