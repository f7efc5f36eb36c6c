"""Moments in the site's time zone (Africa/Dar_es_Salaam): how they are shown to people, the zone
named, and where its calendar days begin (reports, the ledger's closed days, the home page's volumes)."""

from __future__ import annotations

from datetime import date, datetime

from django.utils import timezone

TIME_FORMAT = "%Y-%m-%d %H:%M %Z"


def format_moment(value: datetime | None) -> str:
    """ "2026-12-06 21:25 EAT" (local time, zone shown); "—" for no moment."""
    if value is None:
        return "—"
    return timezone.localtime(value).strftime(TIME_FORMAT)


def local_day(moment: datetime) -> date:
    """The site's calendar day of ``moment``."""
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def day_start(day: date) -> datetime:
    """The first instant of ``day`` in the site's time zone."""
    return datetime.combine(day, datetime.min.time(), tzinfo=timezone.get_default_timezone())
