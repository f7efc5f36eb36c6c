"""The one HTTP view of the webhook pipeline; both endpoints route here with their name."""

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .receiver import receive


# ClickPesa cannot send a CSRF token; the checksum authenticates the body instead. Outside
# ATOMIC_REQUESTS, so that a failure recorded on the event survives the rolled-back work.
@csrf_exempt
@transaction.non_atomic_requests
def webhook(request: HttpRequest, *, endpoint: str) -> JsonResponse:
    """Answer a POSTed ClickPesa webhook with the receiver's status and JSON; 405 for other methods."""
    if request.method != "POST":
        response = JsonResponse({"error": "method not allowed; POST a webhook"}, status=405)
        response["Allow"] = "POST"
        return response
    status, answer = receive(request, endpoint=endpoint)
    return JsonResponse(answer, status=status)
