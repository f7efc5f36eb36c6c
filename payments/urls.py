from django.urls import path

from clickpesa.models import WebhookEvent
from clickpesa.views import webhook

app_name = "payments"

urlpatterns = [
    path("webhook", webhook, {"endpoint": WebhookEvent.Endpoint.PAYMENTS}, name="webhook"),
]
