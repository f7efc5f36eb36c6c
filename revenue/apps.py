from django.apps import AppConfig


class RevenueConfig(AppConfig):
    name = "revenue"
    verbose_name = "Revenue"

    def ready(self) -> None:
        from . import services, webhooks

        webhooks.register()
        services.register_approvals()
