from django.apps import AppConfig
from django.core import checks


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from .checks import check_email_delivery, check_storefront_webhook

        checks.register(check_email_delivery, deploy=True)
        checks.register(check_storefront_webhook)
