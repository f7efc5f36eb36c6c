"""Admin login lockout: django-axes' database handler with a second, wider limit per user name.

A user name and address pair locks after ``AXES_FAILURE_LIMIT`` failures, as before; the user
name alone, counted across every address, locks after ``AXES_USERNAME_FAILURE_LIMIT``. The
first stops one client quickly without locking the staff member out of the office; the second
bounds what many addresses (a botnet, or forged X-Forwarded-For) can try against one account.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from django.conf import settings
from django.db.models import Sum
from django.http import HttpRequest


class AxesHandler(AxesDatabaseHandler):
    """Reads settings.AXES_LOCKOUT_PARAMETERS as [["username", "ip_address"], "username"], in that order."""

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        """Failures on the pair's scale: the pair's own count, or the user name's rescaled so that
        reaching AXES_USERNAME_FAILURE_LIMIT reads as reaching AXES_FAILURE_LIMIT."""
        pair, username = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        limit = get_failure_limit(request, credentials)
        return max(pair, username * limit // settings.AXES_USERNAME_FAILURE_LIMIT)
