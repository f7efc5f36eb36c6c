"""The storefront API's own rows: its keys and the answers kept for idempotent retries."""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey


class Scope(models.TextChoices):
    STOREFRONT = "storefront", "Storefront (everything)"
    READ = "read", "Read only (GET)"


class StorefrontKey(AbstractAPIKey):
    """An API key (hashed; shown once when made) with the scopes it grants."""

    scopes = ArrayField(models.CharField(max_length=20, choices=Scope.choices), default=list)

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"


class IdempotencyRecord(models.Model):
    """A POST's ``Idempotency-Key``: claimed before the work, then holding the answer to replay."""

    class Status(models.TextChoices):
        IN_PROGRESS = "IN_PROGRESS", "In progress"
        DONE = "DONE", "Done"

    api_key = models.ForeignKey(StorefrontKey, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, path and body")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(null=True, blank=True, help_text="The answer's JSON exactly as it was sent")
    locked_at = models.DateTimeField(help_text="When the work under this key started (a lease)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="one_record_per_api_key_and_key")]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.key} · {self.status}"
