from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A Blinno user: a buyer, a creator, or staff. Language picks notification texts."""

    class Language(models.TextChoices):
        ENGLISH = "en", "English"
        SWAHILI = "sw", "Kiswahili"

    phone_number = models.CharField(max_length=20, blank=True, help_text="255XXXXXXXXX, no plus sign")
    language = models.CharField(max_length=5, choices=Language.choices, default=Language.ENGLISH)
    is_creator = models.BooleanField(default=False)
    # The storefront's own id for this person (PUT /api/v1/people/{external_id}); staff have none.
    external_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    statement_emails = models.BooleanField(
        default=False, help_text="Email this creator their monthly statement (PDF), in their language"
    )

    def __str__(self) -> str:
        full = self.get_full_name()
        return f"{full} ({self.username})" if full else self.username
