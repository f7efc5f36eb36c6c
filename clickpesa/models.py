"""The durable inbox: every request ClickPesa (or anyone) sends us, kept before anything else."""

from django.db import models

from .checksum import ChecksumResult


class WebhookEvent(models.Model):
    """One received delivery (or one poll answer), and what processing made of it.

    Duplicate deliveries of a processed event are not stored again: they are counted on
    the first row (`duplicate_count`), which is what the unique `dedupe_key` index enforces.
    """

    class Endpoint(models.TextChoices):
        PAYMENTS = "payments"
        PAYOUTS = "payouts"

    class Source(models.TextChoices):
        WEBHOOK = "webhook"
        POLL = "poll"

    class Status(models.TextChoices):
        RECEIVED = "RECEIVED"
        PROCESSED = "PROCESSED"
        IGNORED = "IGNORED"
        UNMATCHED = "UNMATCHED"
        STALE = "STALE"
        REJECTED = "REJECTED"
        FAILED = "FAILED"
        DEAD = "DEAD"

    FINAL_STATUSES = (Status.PROCESSED, Status.IGNORED, Status.STALE)
    """A delivery of the same body again is only counted: the event already had its effect."""
    REDELIVERABLE_STATUSES = (Status.RECEIVED, Status.FAILED, Status.UNMATCHED, Status.DEAD)
    """A delivery of the same body again processes the event again (processing is idempotent)."""
    RETRYABLE_STATUSES = (Status.RECEIVED, Status.FAILED)
    """What the retry task and the sweep pick up (RECEIVED only when left behind by a crash)."""
    REPLAYABLE_STATUSES = (Status.FAILED, Status.DEAD, Status.UNMATCHED)
    """What staff may replay by hand."""

    endpoint = models.CharField(max_length=10, choices=Endpoint.choices)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.WEBHOOK)
    body = models.TextField(
        help_text="The raw body as received (invalid UTF-8 replaced); of a refused request only its first "
        "CLICKPESA_REJECTED_BODY_BYTES, and emptied after the retention period when refused or ignored"
    )
    body_sha256 = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the whole body as read, kept when the body is cut or emptied"
    )
    headers = models.JSONField(default=dict)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    event_name = models.CharField(max_length=60, blank=True)
    order_reference = models.CharField(max_length=64, blank=True)
    linked_reference = models.CharField(
        max_length=64,
        blank=True,
        help_text="Set by staff when the body's reference matched nothing: the handler reads this one instead",
    )
    gateway_status = models.CharField(max_length=30, blank=True)
    checksum_result = models.CharField(
        max_length=16,
        choices=ChecksumResult.choices,
        blank=True,
        help_text="Empty when the request was refused before its checksum could be checked",
    )
    dedupe_key = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    detail = models.CharField(max_length=500, blank=True, help_text="Why it was rejected, ignored or stale")
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    duplicate_count = models.PositiveIntegerField(default=0)
    last_duplicate_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["order_reference", "received_at"]),
            models.Index(fields=["status", "received_at"]),
            models.Index(fields=["endpoint", "received_at"]),
        ]
        constraints = [
            # One live row per distinct body: rejected deliveries never block a genuine one.
            models.UniqueConstraint(
                fields=["dedupe_key"],
                condition=~models.Q(status="REJECTED") & ~models.Q(dedupe_key=""),
                name="one_webhook_event_per_body",
            ),
        ]
        permissions = [("replay_webhookevent", "Can replay webhook events")]

    def __str__(self) -> str:
        name = self.event_name or "unknown event"
        ref = f" {self.order_reference}" if self.order_reference else ""
        return f"#{self.pk} {name}{ref} · {self.status}"
