from django.apps import AppConfig


class RevenueConfig(AppConfig):
    name = "revenue"
    verbose_name = "Revenue"

    def ready(self) -> None:
        # run_tasks: imported for its Celery tasks (beat names them revenue.run_tasks.*).
        from . import run_tasks, runs, services, webhooks  # noqa: F401

        webhooks.register()
        services.register_approvals()
        runs.register_approvals()
