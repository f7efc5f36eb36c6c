from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development only: the ClickPesa simulator, the demo, demo data and a webhook sender. No models."""

    name = "devtools"
    verbose_name = "Development tools"
