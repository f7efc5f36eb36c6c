"""Blinno's revenue: fees per order, the double-entry ledger, payouts to creators, deposits.

The ledger's invariants live in PostgreSQL (see the migration `ledger_invariants`):
balanced transactions, immutable journal rows, non-negative creator balances, and one
effect per idempotency key. Python keeps them too, but the database is the last word.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.money import Currency, format_money, money_field
from core.privacy import mask_account_number


class TransactionType(models.TextChoices):
    """What an order line sells; each type has its own platform fee rate (settings.PLATFORM_FEE_RATES)."""

    MARKETPLACE = "MARKETPLACE", "Marketplace sale"
    DIGITAL_PRODUCT = "DIGITAL_PRODUCT", "Digital product"
    SERVICE_BOOKING = "SERVICE_BOOKING", "Service booking"
    COMMISSION = "COMMISSION", "Commission"
    SUBSCRIPTION = "SUBSCRIPTION", "Subscription"
    TIP = "TIP", "Tip"


class PlatformFee(models.Model):
    """One row per creator per order: what the creator earns and what Blinno keeps."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        COLLECTED = "COLLECTED"
        REFUNDED = "REFUNDED"

    class PayoutStatus(models.TextChoices):
        PENDING = "PENDING"
        PROCESSING = "PROCESSING"
        PAID = "PAID"

    # No index of their own: one_fee_row_per_line_kind leads with order, (creator, status,
    # payout_status) with creator; each index less is one write less per fee row updated.
    order = models.ForeignKey("payments.Order", on_delete=models.PROTECT, related_name="fees", db_index=False)
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="platform_fees", db_index=False
    )
    transaction_type = models.CharField(max_length=20, choices=TransactionType.choices)
    subtotal = money_field()
    rate = models.DecimalField(max_digits=5, decimal_places=4, help_text="Fraction, e.g. 0.0800")
    platform_fee = money_field()
    creator_amount = money_field()
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.TZS)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    payout = models.ForeignKey("Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="fee_rows")
    payout_status = models.CharField(max_length=16, choices=PayoutStatus.choices, default=PayoutStatus.PENDING)
    collected_at = models.DateTimeField(null=True, blank=True)
    hold_until = models.DateTimeField(null=True, blank=True, help_text="Earnings held as pending until then")
    released_at = models.DateTimeField(null=True, blank=True, help_text="When the earnings became available")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["creator", "status", "payout_status"]),
            models.Index(fields=["payout_status", "created_at"]),
            # The back-office lists fee rows newest first, and by date range, over millions of rows.
            models.Index(fields=["-created_at", "-id"], name="fee_newest_first"),
            # The home page's fee volumes: what was collected, by day, over the last 30 days.
            models.Index(fields=["collected_at"], condition=models.Q(collected_at__isnull=False), name="fee_collected"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["order", "creator", "transaction_type"], name="one_fee_row_per_line_kind"),
            models.CheckConstraint(
                condition=models.Q(creator_amount=models.F("subtotal") - models.F("platform_fee")),
                name="fee_creator_amount_is_subtotal_minus_fee",
            ),
            models.CheckConstraint(condition=models.Q(platform_fee__gte=0), name="fee_non_negative"),
        ]

    def __str__(self) -> str:
        return (
            f"Fee on order #{self.order_id} · {self.get_transaction_type_display()} · "
            f"{format_money(self.platform_fee, self.currency)} of {format_money(self.subtotal, self.currency)}"
        )


# Accounts of one creator: what Blinno owes them, and what they owe Blinno (the receivable).
# None may go below zero.
CREATOR_ACCOUNT_KINDS = ("CREATOR_PENDING", "CREATOR_AVAILABLE", "CREATOR_PAYOUT_IN_FLIGHT", "CREATOR_RECEIVABLE")


class LedgerAccount(models.Model):
    """An account of the journal. `balance` is a cache of its entries on its normal side.

    Platform accounts touched by every payment (gateway cash, fees) keep no cached balance:
    a single hot row would serialise all webhooks on one lock. Their balance is summed
    from entries on read (an index covers it).
    """

    class Kind(models.TextChoices):
        CREATOR_PENDING = "CREATOR_PENDING", "Creator pending earnings"
        CREATOR_AVAILABLE = "CREATOR_AVAILABLE", "Creator available balance"
        CREATOR_PAYOUT_IN_FLIGHT = "CREATOR_PAYOUT_IN_FLIGHT", "Creator payout in flight"
        PLATFORM_FEES = "PLATFORM_FEES", "Platform fees (revenue)"
        PROCESSING_FEES = "PROCESSING_FEES", "Processing fees (revenue)"
        GATEWAY_CASH = "GATEWAY_CASH", "Cash at ClickPesa (asset)"
        PAYOUT_FEES = "PAYOUT_FEES", "ClickPesa payout fees (expense)"
        MERCHANT_FUNDING = "MERCHANT_FUNDING", "Merchant top-ups (equity)"
        SUSPENSE = "SUSPENSE", "Suspense (unattributed)"
        CREATOR_RECEIVABLE = "CREATOR_RECEIVABLE", "Creator receivable (owed to Blinno)"
        REFUNDS_IN_FLIGHT = "REFUNDS_IN_FLIGHT", "Refunds to buyers in flight"
        GATEWAY_CHARGES = "GATEWAY_CHARGES", "ClickPesa reversal charges (expense)"
        VAT_PAYABLE = "VAT_PAYABLE", "VAT payable (liability)"
        WHT_PAYABLE = "WHT_PAYABLE", "Withholding tax payable (liability)"
        BANK = "BANK", "Blinno's bank account (asset)"
        WRITE_OFFS = "WRITE_OFFS", "Collection shortfalls written off (expense)"

    CREATOR_KINDS = (
        Kind.CREATOR_PENDING,
        Kind.CREATOR_AVAILABLE,
        Kind.CREATOR_PAYOUT_IN_FLIGHT,
        Kind.CREATOR_RECEIVABLE,
    )
    # Debit-normal: assets (cash, what creators owe) and expenses; everything else reads on the credit side.
    DEBIT_NORMAL_KINDS = (
        Kind.GATEWAY_CASH,
        Kind.PAYOUT_FEES,
        Kind.CREATOR_RECEIVABLE,
        Kind.GATEWAY_CHARGES,
        Kind.BANK,
        Kind.WRITE_OFFS,
    )
    # VAT is credited by every payment, like the fees: no hot cached row to lock.
    UNCACHED_KINDS = (
        Kind.GATEWAY_CASH,
        Kind.PLATFORM_FEES,
        Kind.PROCESSING_FEES,
        Kind.VAT_PAYABLE,
        Kind.WHT_PAYABLE,
        Kind.BANK,
    )

    kind = models.CharField(max_length=32, choices=Kind.choices)
    creator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_accounts"
    )
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.TZS)
    balance = money_field(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    # Not a column: set by the ledger page on the platform accounts it lists (ledger_views.ledger_view).
    current_balance: Decimal

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "creator", "currency"], name="one_account_per_kind_owner_currency", nulls_distinct=False
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=CREATOR_ACCOUNT_KINDS, creator__isnull=False)
                | (~models.Q(kind__in=CREATOR_ACCOUNT_KINDS) & models.Q(creator__isnull=True)),
                name="creator_accounts_have_a_creator",
            ),
            # Invariant 3: a creator is never owed a negative amount.
            models.CheckConstraint(
                condition=~models.Q(kind__in=CREATOR_ACCOUNT_KINDS) | models.Q(balance__gte=0),
                name="creator_balance_non_negative",
            ),
        ]

    def __str__(self) -> str:
        owner = f" · {self.creator}" if self.creator_id else ""
        return f"{self.get_kind_display()}{owner} · {self.currency}"

    @property
    def is_debit_normal(self) -> bool:
        return self.kind in self.DEBIT_NORMAL_KINDS

    @property
    def caches_balance(self) -> bool:
        return self.kind not in self.UNCACHED_KINDS


class LedgerTransaction(models.Model):
    """One balanced, immutable journal transaction; one effect per idempotency key."""

    class Kind(models.TextChoices):
        PAYMENT_CAPTURE = "PAYMENT_CAPTURE", "Payment capture"
        EARNINGS_RELEASE = "EARNINGS_RELEASE", "Earnings release"
        PAYOUT_RESERVE = "PAYOUT_RESERVE", "Payout reserve"
        PAYOUT_SETTLE = "PAYOUT_SETTLE", "Payout settle"
        PAYOUT_RETURN = "PAYOUT_RETURN", "Payout return"
        DEPOSIT = "DEPOSIT", "Deposit"
        ADJUSTMENT = "ADJUSTMENT", "Adjustment"
        PAYMENT_REVERSAL = "PAYMENT_REVERSAL", "Payment reversal"
        RECEIVABLE_RECOVERY = "RECEIVABLE_RECOVERY", "Receivable recovery"
        TAX_REMITTANCE = "TAX_REMITTANCE", "Tax remittance"
        REFUND = "REFUND", "Refund to a buyer"
        REFUND_RETURN = "REFUND_RETURN", "Refund returned"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    idempotency_key = models.CharField(max_length=120)  # unique: see Meta
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the entries, to catch key reuse")
    payment = models.ForeignKey(
        "payments.Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_transactions"
    )
    payout = models.ForeignKey(
        "Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_transactions"
    )
    deposit = models.ForeignKey(
        "Deposit", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_transactions"
    )
    memo = models.CharField(max_length=500, blank=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "created_at"])]
        # A constraint rather than unique=True, which on PostgreSQL adds a second (LIKE) index nothing reads.
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="one_ledger_transaction_per_key")]
        permissions = [
            ("post_adjustment", "Can post manual ledger adjustments"),
            ("export_reports", "Can export payouts, fees and ledger entries"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.idempotency_key})"


class LedgerEntry(models.Model):
    class Direction(models.TextChoices):
        DEBIT = "DEBIT", "Debit"
        CREDIT = "CREDIT", "Credit"

    transaction = models.ForeignKey(LedgerTransaction, on_delete=models.PROTECT, related_name="entries")
    # ledger_entry_account_time leads with account: a second index on it would only cost writes.
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries", db_index=False)
    direction = models.CharField(max_length=6, choices=Direction.choices)
    amount = money_field()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "ledger entries"
        indexes = [
            # Sums an account's balance, now or as of any moment (ledger.balance_as_of), from an
            # index-only scan of that account's entries up to the moment.
            models.Index(
                fields=["account", "created_at"], include=["direction", "amount"], name="ledger_entry_account_time"
            ),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="ledger_entry_amount_positive")]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} {self.amount} · {self.account}"


class PayoutMethod(models.Model):
    """A creator's saved destination: a mobile wallet or a bank account."""

    class Kind(models.TextChoices):
        MOBILE_WALLET = "MOBILE_WALLET", "Mobile wallet"
        BANK_ACCOUNT = "BANK_ACCOUNT", "Bank account"

    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payout_methods")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    provider = models.CharField(max_length=60, help_text="Operator (M-Pesa, Airtel Money) or bank name")
    account_number = models.CharField(max_length=40, help_text="Phone 255XXXXXXXXX or bank account number")
    account_name = models.CharField(max_length=120)
    bic = models.CharField(max_length=11, blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["creator"], condition=models.Q(is_default=True), name="one_default_payout_method"
            ),
            models.CheckConstraint(
                condition=~models.Q(kind="BANK_ACCOUNT") | ~models.Q(bic=""), name="bank_method_has_bic"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.masked_destination}"

    @property
    def masked_destination(self) -> str:
        return mask_account_number(self.account_number)

    def snapshot(self) -> dict[str, str]:
        """The destination as it was when a payout was requested; later edits don't move money."""
        return {
            "kind": self.kind,
            "provider": self.provider,
            "account_number": self.account_number,
            "account_name": self.account_name,
            "bic": self.bic,
        }


class Payout(models.Model):
    """Money sent to a creator through ClickPesa. Transitions: `TRANSITIONS`; changes: services."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        PROCESSING = "PROCESSING"
        PAID = "PAID"
        FAILED = "FAILED"
        REFUNDED = "REFUNDED"
        REVERSED = "REVERSED"
        CANCELLED = "CANCELLED"

    # docs/architecture.md's state table: target -> the statuses it may be reached from.
    TRANSITIONS: dict[str, tuple[str, ...]] = {
        Status.PROCESSING: (Status.PENDING,),
        Status.PAID: (Status.PENDING, Status.PROCESSING),
        Status.FAILED: (Status.PENDING, Status.PROCESSING),
        Status.REFUNDED: (Status.PENDING, Status.PROCESSING, Status.PAID),
        Status.REVERSED: (Status.PENDING, Status.PROCESSING, Status.PAID),
        Status.CANCELLED: (Status.PENDING,),
    }
    RETURNED_STATUSES = (Status.FAILED, Status.REFUNDED, Status.REVERSED, Status.CANCELLED)
    IN_FLIGHT_STATUSES = (Status.PENDING, Status.PROCESSING)

    class Purpose(models.TextChoices):
        CREATOR = "CREATOR", "Creator's earnings"
        REFUND = "REFUND", "Refund to a buyer"

    # The recipient: a creator, or for a refund (purpose REFUND) the buyer.
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payouts")
    purpose = models.CharField(max_length=8, choices=Purpose.choices, default=Purpose.CREATOR)
    reference = models.CharField(max_length=40, unique=True, help_text="ClickPesa orderReference")
    amount = money_field()
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.TZS)
    method = models.ForeignKey(PayoutMethod, null=True, on_delete=models.PROTECT, related_name="payouts")
    method_kind = models.CharField(max_length=16, choices=PayoutMethod.Kind.choices)
    method_snapshot = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    gateway_id = models.CharField(max_length=64, blank=True)
    gateway_fee = money_field(null=True, blank=True)
    withholding_tax = money_field(
        default=0, help_text="Tax withheld from the creator's balance on top of the amount sent (WHT_PAYABLE)"
    )
    notes = models.TextField(blank=True, help_text="Reasons, appended, never replaced")
    needs_review = models.BooleanField(default=False)
    retry_of = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="retried_by")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submission_attempts = models.PositiveIntegerField(default=0)
    # Due at once when requested; moved ahead while a worker holds the submission (its claim)
    # and after an error (backoff); empty once no further attempt is planned.
    next_submission_at = models.DateTimeField(
        null=True, blank=True, default=timezone.now, help_text="When the next submission to ClickPesa is due"
    )
    last_error = models.TextField(blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True, help_text="When ClickPesa was last asked its status")
    created_at = models.DateTimeField(auto_now_add=True, help_text="When the payout was requested")
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    returned_at = models.DateTimeField(null=True, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)
    reconciled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["status", "paid_at"]),
            models.Index(fields=["creator", "created_at"]),
            # The back-office lists payouts newest first, and by date range, over millions of rows.
            models.Index(fields=["-created_at", "-id"], name="payout_newest_first"),
            # Finance's work list, the payouts not yet reconciled: a small part of millions.
            models.Index(
                fields=["status", "-created_at"],
                condition=models.Q(reconciled_at__isnull=True),
                name="payout_not_reconciled",
            ),
            models.Index(fields=["gateway_id"]),
            models.Index(fields=["status", "next_submission_at"]),
            # The home page's queue of payouts waiting for a person: a handful among millions.
            models.Index(fields=["id"], condition=models.Q(needs_review=True), name="payout_needs_review"),
            # The home page's queues of payouts returned (anti-joined with their retries by id) and of
            # payouts waiting too long (by creation and submission time): index-only counts of the few
            # thousand rows in those states, not a walk of the table.
            models.Index(
                fields=["id"], condition=models.Q(status__in=["FAILED", "REFUNDED", "REVERSED"]), name="payout_returned"
            ),
            models.Index(
                fields=["created_at"],
                include=["submitted_at"],
                condition=models.Q(status__in=["PENDING", "PROCESSING"]),
                name="payout_in_flight",
            ),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="payout_amount_positive")]
        permissions = [
            ("reconcile_payout", "Can mark payouts reconciled"),
            ("retry_payout", "Can retry failed payouts"),
            ("requery_payout", "Can re-query ClickPesa for a payout"),
            ("cancel_payout", "Can cancel payouts not yet submitted"),
            ("request_payout", "Can request a payout on a creator's behalf"),
            ("review_payout", "Can clear a payout's review flag"),
            ("view_account_number", "Can see a payout's full account number (each look is logged)"),
        ]

    def __str__(self) -> str:
        return f"Payout {self.reference} · {format_money(self.amount, self.currency)} · {self.get_status_display()}"

    @property
    def gross_amount(self) -> Decimal:
        """What the payout took from the creator's available balance: the amount sent plus the tax withheld."""
        return self.amount + self.withholding_tax

    @property
    def destination_label(self) -> str:
        """The destination for people, masked: "M-Pesa ****0111"."""
        snap = self.method_snapshot or {}
        return f"{snap.get('provider', '')} {mask_account_number(snap.get('account_number', ''))}".strip()


class PayoutStatusChange(models.Model):
    """The audit trail of a payout: every status change, who or what caused it."""

    class Source(models.TextChoices):
        WEBHOOK = "webhook"
        POLL = "poll"
        API = "api"
        ADMIN = "admin"
        SYSTEM = "system"

    payout = models.ForeignKey(Payout, on_delete=models.PROTECT, related_name="status_changes")
    from_status = models.CharField(max_length=16, choices=Payout.Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Payout.Status.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    webhook_event = models.ForeignKey(
        "clickpesa.WebhookEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.payout.reference}: {self.from_status} → {self.to_status} ({self.source})"


class Deposit(models.Model):
    """A top-up of Blinno's own ClickPesa balance (DEPOSIT RECEIVED)."""

    reference = models.CharField(max_length=64, unique=True, help_text="ClickPesa paymentReference")
    gateway_id = models.CharField(max_length=64, blank=True)
    amount = money_field()
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.TZS)
    webhook_event = models.ForeignKey(
        "clickpesa.WebhookEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="deposit_amount_positive")]

    def __str__(self) -> str:
        return f"Deposit {self.reference} · {format_money(self.amount, self.currency)}"


class LedgerAccountDay(models.Model):
    """The closing balance of a platform account that keeps no cached balance, at the end of one
    local day (every entry before the next day's midnight in Africa/Dar_es_Salaam), on its
    normal side.

    A balance read sums only the entries after the last closed day (ledger.balance_as_of), not the
    whole journal. Written by ledger.ledger_close_days once a day has ended; checked by the audit.
    """

    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="days")
    day = models.DateField()
    balance = money_field()
    closed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "day"], name="one_closing_balance_per_account_day")]

    def __str__(self) -> str:
        return f"{self.account} · {self.day} · {self.balance}"


class LedgerAuditRun(models.Model):
    """One run of `audit_ledger`: its verdict, shown on the ledger page and in metrics."""

    ran_at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    accounts_checked = models.PositiveIntegerField()
    transactions_checked = models.PositiveBigIntegerField()
    differences = models.JSONField(default=list)
    duration_seconds = models.FloatField()

    class Meta:
        ordering = ["-ran_at"]

    def __str__(self) -> str:
        verdict = "clean" if self.ok else f"{len(self.differences)} difference(s)"
        return f"Ledger audit {self.ran_at:%Y-%m-%d %H:%M} · {verdict}"


class Approval(models.Model):
    """Four eyes: what one person asked for and another decided, before money moves.

    Kinds: a refund to a buyer, an adjustment above ``ADJUSTMENT_APPROVAL_THRESHOLD`` or touching
    gateway cash, receivables or refunds in flight, a payout above ``PAYOUT_APPROVAL_THRESHOLD``.
    The subject is named by ``subject_type`` and ``subject_id`` (a refund lives in payments, above
    this app); an adjustment has no row before it is posted, so its accounts are in ``payload``.
    The database refuses a decision by the person who asked (CHECK).
    """

    class Kind(models.TextChoices):
        REFUND = "REFUND", "Refund to a buyer"
        ADJUSTMENT = "ADJUSTMENT", "Ledger adjustment"
        PAYOUT = "PAYOUT", "Payout"
        PAYOUT_RUN = "PAYOUT_RUN", "Payout run"

    class Decision(models.TextChoices):
        PENDING = "PENDING", "Waiting"
        APPROVED = "APPROVED", "Approved"
        REJECTED = "REJECTED", "Rejected"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    subject_type = models.CharField(max_length=40, blank=True, help_text="app_label.model of the subject")
    subject_id = models.PositiveBigIntegerField(null=True, blank=True)
    amount = money_field()
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.TZS)
    payload = models.JSONField(default=dict, blank=True, help_text="What is to be done, when no row says it")
    summary = models.CharField(max_length=300, help_text="What is asked, in one line")
    reason = models.CharField(max_length=500, help_text="Why it was asked")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(auto_now_add=True)
    decision = models.CharField(max_length=8, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.CharField(max_length=500, blank=True)
    outcome = models.CharField(max_length=500, blank=True, help_text="What the decision did")

    class Meta:
        ordering = ["-requested_at"]
        indexes = [
            models.Index(fields=["decision", "requested_at"]),
            models.Index(fields=["subject_type", "subject_id"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(decided_by__isnull=True) | ~models.Q(decided_by=models.F("requested_by")),
                name="approval_four_eyes",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="approval_amount_positive"),
        ]
        permissions = [("decide_approval", "Can approve or reject what another person asked for")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} · {format_money(self.amount, self.currency)} · {self.decision}"


class PayoutRun(models.Model):
    """A batch of payouts proposed on schedule, trimmed by staff, approved by another person, and
    submitted to ClickPesa one at a time by one dispatcher, paced by ClickPesa's cool-down (revenue.runs)."""

    class Status(models.TextChoices):
        PROPOSED = "PROPOSED", "Proposed (staff may drop lines)"
        AWAITING_APPROVAL = "AWAITING_APPROVAL", "Waiting for approval"
        DISPATCHING = "DISPATCHING", "Submitting"
        DONE = "DONE", "Done"
        CANCELLED = "CANCELLED", "Cancelled"

    OPEN_STATUSES = (Status.PROPOSED, Status.AWAITING_APPROVAL, Status.DISPATCHING)

    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.TZS)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROPOSED)
    created_at = models.DateTimeField(auto_now_add=True)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approval = models.OneToOneField(
        "Approval", null=True, blank=True, on_delete=models.PROTECT, related_name="payout_run"
    )
    cooldown_seconds = models.FloatField(help_text="Seconds between two create-payouts, when the run was approved")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The dispatcher's turn: the next submission is due then; a dispatcher holds the run until its lease ends.
    next_dispatch_at = models.DateTimeField(null=True, blank=True)
    dispatch_lease_until = models.DateTimeField(null=True, blank=True)
    cooldowns = models.PositiveIntegerField(default=0, help_text="Cool-down answers that pushed the queue back")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open run per currency: two dispatchers would share one cool-down and each halve the other's pace.
            models.UniqueConstraint(
                fields=["currency"],
                condition=models.Q(status__in=["PROPOSED", "AWAITING_APPROVAL", "DISPATCHING"]),
                name="one_open_payout_run_per_currency",
            )
        ]
        permissions = [("manage_payout_run", "Can propose payout runs, drop lines and ask for approval")]

    def __str__(self) -> str:
        return f"Payout run #{self.pk} · {self.currency} · {self.get_status_display()}"


class PayoutRunLine(models.Model):
    """One creator in a run, in dispatch order; its payout is reserved when the run is approved."""

    class Status(models.TextChoices):
        PROPOSED = "PROPOSED", "Proposed"
        DROPPED = "DROPPED", "Dropped"
        SKIPPED = "SKIPPED", "Skipped (balance or method changed)"
        QUEUED = "QUEUED", "Reserved, waiting its turn"
        SUBMITTED = "SUBMITTED", "Submitted"
        FAILED = "FAILED", "Refused by ClickPesa"

    run = models.ForeignKey(PayoutRun, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveIntegerField()
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_amount = money_field()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROPOSED)
    payout = models.OneToOneField(Payout, null=True, blank=True, on_delete=models.PROTECT, related_name="run_line")
    note = models.CharField(max_length=300, blank=True)
    dropped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="one_run_line_per_position"),
            models.UniqueConstraint(fields=["run", "creator"], name="one_run_line_per_creator"),
        ]
        indexes = [models.Index(fields=["run", "status", "position"])]

    def __str__(self) -> str:
        return f"#{self.position} {self.creator} · {format_money(self.proposed_amount, self.run.currency)}"
