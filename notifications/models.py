"""The notification outbox: rows written with the money change, sent after commit."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Notification(models.Model):
    """A message to a person. `dedupe_key` makes a replayed event notify at most once."""

    class Channel(models.TextChoices):
        EMAIL = "EMAIL", "Email"
        IN_APP = "IN_APP", "In-app"

    class Kind(models.TextChoices):
        SALE = "SALE", "Sale (to creator)"
        RECEIPT = "RECEIPT", "Receipt (to buyer)"
        PAYMENT_FAILED = "PAYMENT_FAILED", "Payment failed (to buyer)"
        PAYOUT_SENT = "PAYOUT_SENT", "Payout on its way"
        PAYOUT_PAID = "PAYOUT_PAID", "Payout paid"
        PAYOUT_RETURNED = "PAYOUT_RETURNED", "Payout returned"
        PAYMENT_REVERSED = "PAYMENT_REVERSED", "Payment returned (to buyer)"
        SALE_REVERSED = "SALE_REVERSED", "Sale reversed (to creator)"
        MONTHLY_STATEMENT = "MONTHLY_STATEMENT", "Monthly statement"
        REFUND_PAID = "REFUND_PAID", "Refund paid (to buyer)"
        FINANCE_ALERT = "FINANCE_ALERT", "Finance alert"
        STAFF_ALERT = "STAFF_ALERT", "Staff alert"

    class Status(models.TextChoices):
        PENDING = "PENDING"
        SENDING = "SENDING"
        SENT = "SENT"
        FAILED = "FAILED"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="notifications",
        db_index=False,  # the (recipient, created_at) index serves it: one index less to write per row
    )
    email = models.EmailField(blank=True, help_text="Where an email goes; empty for in-app only")
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.EMAIL)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    language = models.CharField(max_length=5, default="en")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    # A file sent with the email (a monthly statement), made when the row is written: what is sent is what is kept.
    attachment = models.BinaryField(null=True, blank=True, editable=False)
    attachment_name = models.CharField(max_length=100, blank=True)
    attachment_type = models.CharField(max_length=100, blank=True)
    dedupe_key = models.CharField(max_length=200)  # unique: see Meta (a constraint, without a LIKE index)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(
        default=timezone.now, help_text="When a PENDING row is due to be sent (later after a failure: backoff)"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["recipient", "created_at"]),
        ]
        # A constraint rather than unique=True, which on PostgreSQL adds a second (LIKE) index nothing reads.
        constraints = [models.UniqueConstraint(fields=["dedupe_key"], name="one_notification_per_key")]
        permissions = [("resend_notification", "Can resend failed notifications")]

    def __str__(self) -> str:
        to = self.email or (str(self.recipient) if self.recipient_id else "staff")
        return f"{self.get_kind_display()} to {to} · {self.status}"


class StorefrontEvent(models.Model):
    """An event for the storefront, written with the change it reports, POSTed signed (Standard Webhooks).

    Its status changes only in notifications.storefront.
    """

    class Type(models.TextChoices):
        ORDER_PAID = "order.paid"
        ORDER_PAYMENT_FAILED = "order.payment_failed"
        ORDER_HELD_FOR_REVIEW = "order.held_for_review"
        PAYOUT_PROCESSING = "payout.processing", "payout.processing (on its way)"
        PAYOUT_PAID = "payout.paid"
        PAYOUT_RETURNED = "payout.returned"

    class Status(models.TextChoices):
        PENDING = "PENDING"
        SENDING = "SENDING"
        DELIVERED = "DELIVERED"
        DEAD = "DEAD"

    message_id = models.CharField(max_length=40, unique=True, help_text="webhook-id: the same on every attempt")
    dedupe_key = models.CharField(max_length=200)  # unique: see Meta
    type = models.CharField(max_length=40, choices=Type.choices)
    payload = models.JSONField(help_text="The body sent, as JSON")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["-created_at"], name="storefront_event_newest"),
        ]
        constraints = [models.UniqueConstraint(fields=["dedupe_key"], name="one_storefront_event_per_key")]
        permissions = [("replay_storefrontevent", "Can send storefront events again")]

    def __str__(self) -> str:
        return f"{self.type} {self.message_id} · {self.status}"


class StorefrontDelivery(models.Model):
    """One attempt to deliver a storefront event: what the storefront answered, or why nothing came."""

    event = models.ForeignKey(StorefrontEvent, on_delete=models.CASCADE, related_name="deliveries")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "storefront deliveries"

    def __str__(self) -> str:
        return f"{self.event.message_id} → {self.status_code or self.error[:40]}"
