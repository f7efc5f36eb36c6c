"""Staff in the real Finance and Support groups, an admin client with real CSRF, and payouts to show them."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client

from clickpesa.payloads import GatewayStatus
from revenue.models import Payout
from revenue.services import payout_apply_gateway_status
from tests.factories import PayoutFactory, UserFactory


class AdminClient:
    """A logged-in staff member's browser: CSRF enforced, the token taken from the cookie as a form would."""

    def __init__(self, user) -> None:
        self.user = user
        self.client = Client(enforce_csrf_checks=True)
        self.client.force_login(user)
        # Any admin page sets the CSRF cookie, as the login page does in a browser.
        self.client.get("/admin/")

    def get(self, url: str, data: dict | None = None, **kwargs):
        return self.client.get(url, data, **kwargs)

    def post(self, url: str, data: dict | None = None, **kwargs):
        token = self.client.cookies["csrftoken"].value
        return self.client.post(url, {**(data or {}), "csrfmiddlewaretoken": token}, **kwargs)

    def action(self, url: str, action: str, objects, **extra):
        """Run a changelist action on `objects`, as ticking them and pressing "Go" does."""
        data = {"action": action, "_selected_action": [str(o.pk) for o in objects], "index": "0", **extra}
        return self.post(url, data, follow=True)


def staff(group: str | None, **kwargs):
    user = UserFactory(is_staff=True, **kwargs)
    if group:
        user.groups.add(Group.objects.get(name=group))
    return user


def messages_of(response) -> list[str]:
    """The messages shown on the page a (followed) response ended on."""
    return [str(m.message) for m in get_messages(response.wsgi_request)]


def paid_payout(**kwargs) -> Payout:
    """A payout that really reserved money and was then paid, as ClickPesa's SUCCESS webhook does."""
    payout = PayoutFactory(**kwargs)
    payout_apply_gateway_status(
        payout, GatewayStatus.SUCCESS, source="webhook", gateway_id=f"PAYX{payout.pk}", fee=Decimal("1180.00")
    )
    payout.refresh_from_db()
    return payout


def returned_payout(status: str = GatewayStatus.FAILED, **kwargs) -> Payout:
    """A payout that came back (FAILED, REFUNDED or REVERSED): its money is available again."""
    payout = PayoutFactory(**kwargs)
    payout_apply_gateway_status(payout, status, source="webhook", reason="wallet not registered")
    payout.refresh_from_db()
    return payout
