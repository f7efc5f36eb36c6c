from django.urls import path

from clickpesa.models import WebhookEvent
from clickpesa.views import webhook

app_name = "revenue"

urlpatterns = [
    path("payouts/webhook", webhook, {"endpoint": WebhookEvent.Endpoint.PAYOUTS}, name="payouts-webhook"),
]
