"""Reading a person's notifications (the in-app inbox)."""

from django.db.models import QuerySet

from .models import Notification


def notifications_for(user: object, *, unread_only: bool = False) -> QuerySet[Notification]:
    """Everything Blinno told `user` (in-app messages and emails alike), newest first."""
    notifications = Notification.objects.filter(recipient=user).order_by("-created_at", "-pk")
    if unread_only:
        notifications = notifications.filter(read_at__isnull=True)
    return notifications
