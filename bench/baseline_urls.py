"""The baseline: a plain Django view doing one webhook-sized ORM transaction, next to the product's URLs.

It reads a PAYMENT RECEIVED body and runs seven ORM statements in one transaction (insert an
inbox row, lock the payment, read its order, touch both, insert an in-app notification, mark
the inbox row processed), with no checksum, dedupe, ledger or outbox logic. It moves no money
and changes no status, so the ledger audit of the bench database is unaffected. It lives in
bench/ only: the product never routes to it.
"""

from __future__ import annotations

import json
import uuid

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from blinno.urls import urlpatterns as product_urlpatterns
from clickpesa.models import WebhookEvent
from notifications.models import Notification
from payments.models import Order, Payment

BASELINE_PATH = "bench/baseline"


@csrf_exempt
@transaction.non_atomic_requests
def baseline(request: HttpRequest) -> JsonResponse:
    """Seven statements in one transaction; answers like the webhook endpoint."""
    raw = request.body
    reference = json.loads(raw)["data"]["orderReference"]
    now = timezone.now()
    with transaction.atomic():
        event = WebhookEvent.objects.create(
            endpoint=WebhookEvent.Endpoint.PAYMENTS,
            body=raw.decode("utf-8"),
            event_name="PAYMENT RECEIVED",
            order_reference=reference,
        )
        payment = Payment.objects.select_for_update().get(reference=reference)
        order = Order.objects.get(pk=payment.order_id)
        Payment.objects.filter(pk=payment.pk).update(updated_at=now)
        Order.objects.filter(pk=order.pk).update(updated_at=now)
        Notification.objects.create(
            recipient_id=order.buyer_id,
            channel=Notification.Channel.IN_APP,
            status=Notification.Status.SENT,
            sent_at=now,
            kind=Notification.Kind.RECEIPT,
            subject=f"Receipt for order #{order.pk}",
            body=f"Paid {payment.amount} {payment.currency}.",
            dedupe_key=f"bench:{uuid.uuid4()}",
        )
        WebhookEvent.objects.filter(pk=event.pk).update(status=WebhookEvent.Status.PROCESSED, processed_at=now)
    return JsonResponse({"status": "processed", "event": event.pk})


urlpatterns = [*product_urlpatterns, path(BASELINE_PATH, baseline)]
