"""Reading a person's notifications (the in-app inbox)."""

from __future__ import annotations

from django.db.models import QuerySet

from core.users import User

from .models import Notification


def notifications_for(user: User, *, unread_only: bool = False) -> QuerySet[Notification]:
    """Everything Blinno told `user` (in-app messages and emails alike), newest first."""
    notifications = Notification.objects.filter(recipient=user).order_by("-created_at", "-pk")
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return notifications
