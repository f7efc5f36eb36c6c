"""People as the storefront knows them: buyers and creators created or updated by its own id."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from core.phones import phone_normalize
from revenue.services import creator_accounts_ensure

from .models import User


@dataclass(frozen=True)
class PersonFields:
    """What the storefront says about a person; ``phone`` in any Tanzanian form."""

    name: str
    email: str
    phone: str
    language: str
    is_creator: bool


@transaction.atomic
def person_upsert(external_id: str, fields: PersonFields) -> tuple[User, bool]:
    """Create or update the person with the storefront's ``external_id``; return them and whether created.

    The phone is stored as ``255XXXXXXXXX`` (``core.phones``; ``InvalidPhoneNumber`` otherwise).
    A creator gets their ledger accounts, so a row exists to lock on their first sale or payout.
    The row is locked (or created under the unique ``external_id``), so two writes of one
    person at once apply one after the other.
    """
    phone = phone_normalize(fields.phone) if fields.phone else ""
    first, _, last = " ".join(fields.name.split()).partition(" ")
    values = {
        "first_name": first[:150],
        "last_name": last[:150],
        "email": fields.email,
        "phone_number": phone,
        "language": fields.language,
        "is_creator": fields.is_creator,
    }
    person, created = User.objects.select_for_update().get_or_create(
        external_id=external_id, defaults={"username": f"sf-{external_id}", **values}
    )
    if created:
        person.set_unusable_password()
        person.save(update_fields=["password"])
    else:
        for name, value in values.items():
            setattr(person, name, value)
        person.save(update_fields=list(values))
    if person.is_creator:
        creator_accounts_ensure(person)
    return person, created
