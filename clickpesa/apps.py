from django.apps import AppConfig


class ClickpesaConfig(AppConfig):
    name = "clickpesa"
    verbose_name = "ClickPesa"
