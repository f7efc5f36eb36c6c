"""Notes on a row (a payment's, a payout's): appended with a time stamp, never replaced."""

from django.utils import timezone

from core.display import format_moment


def append_note(existing: str, note: str) -> str:
    """``existing`` with ``note`` on a new line, stamped with the local time and its zone ("EAT")."""
    return f"{existing}\n[{format_moment(timezone.now())}] {note}".strip()
