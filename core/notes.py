"""Notes on a row (a payment's, a payout's): appended with a time stamp, never replaced."""

from django.utils import timezone


def append_note(existing: str, note: str) -> str:
    """``existing`` with ``note`` on a new line, stamped with the time in UTC."""
    stamp = timezone.now().strftime("%Y-%m-%d %H:%M UTC")
    return f"{existing}\n[{stamp}] {note}".strip()
