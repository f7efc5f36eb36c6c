"""What buyers buy and how they pay: orders, their lines, payment attempts, and what lines buy."""

from django.conf import settings
from django.db import models

from core.money import Currency, format_money, money_field
from revenue.models import TransactionType


class Booking(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"
        CONFIRMED = "CONFIRMED"
        CANCELLED = "CANCELLED"
        COMPLETED = "COMPLETED"

    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings")
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bookings_received")
    description = models.CharField(max_length=200)
    starts_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Booking #{self.pk}: {self.description} ({self.get_status_display()})"


class Subscription(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"
        ACTIVE = "ACTIVE"
        CANCELLED = "CANCELLED"
        EXPIRED = "EXPIRED"

    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscriptions")
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="subscribers")
    plan = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    started_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Subscription #{self.pk}: {self.plan} ({self.get_status_display()})"


class Order(models.Model):
    """What a buyer pays for. Its status changes only in payments.services.order_transition."""

    class Status(models.TextChoices):
        PENDING = "PENDING"
        PAID = "PAID"
        PAYMENT_FAILED = "PAYMENT_FAILED", "Payment failed"
        CANCELLED = "CANCELLED"
        REFUNDED = "REFUNDED"

    # target -> the statuses it may be reached from.
    TRANSITIONS: dict[str, tuple[str, ...]] = {
        Status.PENDING: (Status.PAYMENT_FAILED,),  # a new payment attempt
        Status.PAID: (Status.PENDING,),
        Status.PAYMENT_FAILED: (Status.PENDING,),
        Status.CANCELLED: (Status.PENDING, Status.PAYMENT_FAILED),
        Status.REFUNDED: (Status.PAID,),  # ClickPesa gave the buyer their money back
    }

    buyer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.TZS)
    subtotal = money_field()
    processing_fee = money_field()
    total = money_field()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total=models.F("subtotal") + models.F("processing_fee")),
                name="order_total_is_subtotal_plus_processing_fee",
            ),
        ]

    def __str__(self) -> str:
        return f"Order #{self.pk} · {format_money(self.total, self.currency)} · {self.get_status_display()}"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    creator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sold_lines")
    transaction_type = models.CharField(max_length=20, choices=TransactionType.choices)
    description = models.CharField(max_length=200)
    amount = money_field()
    booking = models.ForeignKey(Booking, null=True, blank=True, on_delete=models.PROTECT, related_name="lines")
    subscription = models.ForeignKey(
        Subscription, null=True, blank=True, on_delete=models.PROTECT, related_name="lines"
    )

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="order_line_amount_positive")]

    def __str__(self) -> str:
        return f"{self.description} · {format_money(self.amount, self.order.currency)}"


class Payment(models.Model):
    """One attempt to collect an order through ClickPesa; a new attempt is a new Payment.

    Its status changes only in payments.services.payment_transition.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING"
        COMPLETED = "COMPLETED"
        FAILED = "FAILED"
        NEEDS_REVIEW = "NEEDS_REVIEW", "Needs review"
        REFUNDED = "REFUNDED"  # returned to the buyer by ClickPesa before settlement
        REVERSED = "REVERSED"  # returned to the buyer by ClickPesa after settlement

    # target -> the statuses it may be reached from (docs/architecture.md).
    TRANSITIONS: dict[str, tuple[str, ...]] = {
        # From review: captured by finance, or a dismissed review of a payment captured before.
        Status.COMPLETED: (Status.PENDING, Status.NEEDS_REVIEW),
        # From review: dismissed by finance (no money was ever credited for it).
        Status.FAILED: (Status.PENDING, Status.NEEDS_REVIEW),
        Status.REFUNDED: (Status.COMPLETED,),
        Status.REVERSED: (Status.COMPLETED,),
        # A late or conflicting report parks the payment for finance, whatever it was.
        Status.NEEDS_REVIEW: (Status.PENDING, Status.COMPLETED, Status.FAILED),
    }

    class Method(models.TextChoices):
        USSD_PUSH = "USSD_PUSH", "USSD push"
        CARD = "CARD", "Card"
        CHECKOUT_LINK = "CHECKOUT_LINK", "Checkout link"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    reference = models.CharField(max_length=40, unique=True, help_text="ClickPesa orderReference")
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.USSD_PUSH)
    link = models.URLField(max_length=500, blank=True, help_text="Where the buyer pays (card and checkout link)")
    amount = money_field()
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.TZS)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    phone_number = models.CharField(max_length=20, blank=True)
    gateway_id = models.CharField(max_length=64, blank=True)
    gateway_reference = models.CharField(max_length=64, blank=True, help_text="ClickPesa paymentReference")
    channel = models.CharField(max_length=40, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    push_sent_at = models.DateTimeField(null=True, blank=True, help_text="When ClickPesa accepted the USSD push")
    last_error = models.TextField(blank=True, help_text="ClickPesa's last error about this payment")
    last_polled_at = models.DateTimeField(null=True, blank=True, help_text="When ClickPesa was last asked its status")
    notes = models.TextField(blank=True, help_text="Reasons and review notes, appended, never replaced")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True, help_text="When ClickPesa's reversal was applied")
    reversal_charges = money_field(null=True, blank=True, help_text="ClickPesa's charges on a reversal")
    next_recheck_at = models.DateTimeField(
        null=True, blank=True, help_text="When ClickPesa is next asked whether this completed payment came back"
    )

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"]),
            # The reversal poller's queue: completed payments still inside the re-check window.
            models.Index(
                fields=["next_recheck_at"],
                condition=models.Q(next_recheck_at__isnull=False),
                name="payment_recheck_due",
            ),
            # The home page's payment volumes: what was collected, by day, over the last 30 days.
            models.Index(fields=["status", "completed_at"], name="payment_completed"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_amount_positive")]
        permissions = [("review_payment", "Can resolve payments held for review (capture or dismiss)")]

    def __str__(self) -> str:
        return f"Payment {self.reference} · {format_money(self.amount, self.currency)} · {self.get_status_display()}"


class Refund(models.Model):
    """Money given back to a buyer for a paid order, in full or in part: asked by Support, decided by Finance.

    ClickPesa has no refund for collections, so an approved refund travels as a payout to the
    buyer's wallet (``payout``, purpose REFUND); its progress is that payout's status.
    """

    class Status(models.TextChoices):
        REQUESTED = "REQUESTED", "Waiting for approval"
        APPROVED = "APPROVED", "Approved (paid out to the buyer)"
        REJECTED = "REJECTED"

    class Reason(models.TextChoices):
        CUSTOMER_REQUEST = "CUSTOMER_REQUEST", "Buyer asked"
        NOT_DELIVERED = "NOT_DELIVERED", "Not delivered"
        DUPLICATE = "DUPLICATE", "Charged twice"
        FRAUD = "FRAUD", "Fraud"
        OTHER = "OTHER", "Other"
        # Money ClickPesa collected for a payment held for review and never credited (payments.refunds).
        UNCREDITED = "UNCREDITED", "Collected, never credited"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    note = models.CharField(max_length=500, help_text="What happened, for the approver")
    amount = money_field(help_text="What the buyer gets back")
    platform_fee_refunded = money_field(default=0, help_text="Blinno's fee on the lines given back, by policy")
    currency = models.CharField(max_length=3, choices=Currency.choices, default=Currency.TZS)
    phone_number = models.CharField(max_length=20, help_text="The buyer's wallet, 255XXXXXXXXX")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    payout = models.OneToOneField(
        "revenue.Payout", null=True, blank=True, on_delete=models.PROTECT, related_name="refund"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_amount_positive")]
        permissions = [("request_refund", "Can ask for a refund to a buyer")]

    def __str__(self) -> str:
        return (
            f"Refund #{self.pk} of order #{self.order_id} · {format_money(self.amount, self.currency)} · {self.status}"
        )


class RefundLine(models.Model):
    """How much of one order line a refund gives back."""

    refund = models.ForeignKey(Refund, on_delete=models.PROTECT, related_name="lines")
    line = models.ForeignKey(OrderLine, on_delete=models.PROTECT, related_name="refund_lines")
    amount = money_field()

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_line_amount_positive")]

    def __str__(self) -> str:
        return f"{format_money(self.amount, self.refund.currency)} of {self.line}"
