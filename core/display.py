"""How moments are shown to people: in the site's time zone (Africa/Dar_es_Salaam), the zone named."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

TIME_FORMAT = "%Y-%m-%d %H:%M %Z"


def format_moment(value: datetime | None) -> str:
    """ "2026-12-06 21:25 EAT" (local time, zone shown); "—" for no moment."""
    if value is None:
        return "—"
    return timezone.localtime(value).strftime(TIME_FORMAT)
