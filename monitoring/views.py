"""``GET /healthz`` and ``GET /metrics``: thin views over monitoring.health and monitoring.metrics."""

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from .health import health_check
from .metrics import metrics_text


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """The dependencies' state as JSON: 200 while the database answers and the configuration is
    complete, 503 (with the reason) when either is not."""
    healthy, report = health_check()
    return JsonResponse(report, status=200 if healthy else 503)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics (text, or OpenMetrics when asked for); with MONITORING_METRICS_TOKEN, for its bearer only."""
    token = settings.MONITORING_METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponse("metrics need the scrape token\n", status=401, content_type="text/plain")
    body, content_type = metrics_text(request.headers.get("Accept", ""))
    return HttpResponse(body, content_type=content_type)
