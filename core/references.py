"""References we choose for ClickPesa: letters and digits only, unguessable, never reused."""

import secrets
import string

_ALPHABET = string.ascii_uppercase + string.digits


def new_reference(prefix: str) -> str:
    """A fresh orderReference: ``prefix`` and 12 random letters or digits (ClickPesa refuses reuse with 409)."""
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(12))
