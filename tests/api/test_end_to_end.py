"""The storefront's whole loop over real HTTP: people, an order, a USSD push, ClickPesa's webhook,
``order.paid`` at the storefront, a payout, ``payout.paid``; every event's signature verified.

ClickPesa is the project's simulator (its own HTTP server); our service is Django's live server;
the storefront is a local HTTP server thread (tests.receiver).
"""

from __future__ import annotations

import base64

import pytest
import requests
from django.core.cache import cache

from api.models import Scope, StorefrontKey
from devtools.simulator import ClickPesaSimulator
from payments.models import Payment
from revenue.models import Payout
from tests.receiver import Receiver

SECRET = "whsec_" + base64.b64encode(b"end-to-end storefront secret!!!!").decode()


@pytest.fixture
def world(settings, live_server):
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    settings.CLICKPESA_CLIENT_ID, settings.CLICKPESA_API_KEY = "sim-client", "sim-key"
    settings.CLICKPESA_CHECKSUM_KEY = "e2e-checksum-key"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "e2e"}}
    cache.clear()
    simulator = ClickPesaSimulator(webhook_url=live_server.url).start()
    settings.CLICKPESA_BASE_URL = simulator.url
    storefront = Receiver()
    settings.STOREFRONT_WEBHOOK_URL = storefront.url
    settings.STOREFRONT_WEBHOOK_SECRET = SECRET
    yield simulator, storefront
    storefront.stop()
    simulator.stop()


@pytest.mark.django_db(transaction=True)
def test_the_storefront_sells_gets_paid_and_pays_a_creator_out(world, live_server):
    simulator, storefront = world
    _, key = StorefrontKey.objects.create_key(name="storefront", scopes=[Scope.STOREFRONT])
    http = requests.Session()
    http.headers["Authorization"] = f"Api-Key {key}"
    api = f"{live_server.url}/api/v1"

    def post(path: str, body: dict, idempotency_key: str) -> dict:
        response = http.post(f"{api}/{path}", json=body, headers={"Idempotency-Key": idempotency_key}, timeout=30)
        assert response.status_code in (200, 201), response.text
        return response.json()

    assert http.put(f"{api}/people/u-1", json={"name": "Baraka Mushi", "phone": "0754 000 001"}).status_code == 201
    creator = {"name": "Amina Juma", "phone": "+255 688 000 002", "is_creator": True, "language": "sw"}
    assert http.put(f"{api}/people/c-1", json=creator).status_code == 201
    post(
        "people/c-1/payout-methods",
        {"kind": "mobile_wallet", "account_number": "0688000002", "account_name": "Amina Juma"},
        "pm-1",
    )

    order = post(
        "orders",
        {"buyer": "u-1", "lines": [{"creator": "c-1", "transaction_type": "digital_product", "amount": "25000.00"}]},
        "order-1",
    )
    payment = post(f"orders/{order['id']}/payments", {"method": "ussd_push", "phone": "0754 000 001"}, "pay-1")
    assert payment["reference"] in simulator.payments
    simulator.deliver_pending()

    assert http.get(f"{api}/payments/{payment['reference']}").json()["status"] == "completed"
    assert http.get(f"{api}/orders/{order['id']}").json()["status"] == "paid"
    balance = http.get(f"{api}/creators/c-1/balance").json()
    assert (balance["available"], balance["earned"]) == ("23500.00", "23500.00")

    payout = post("creators/c-1/payouts", {}, "payout-1")
    simulator.deliver_pending()
    assert http.get(f"{api}/payouts/{payout['reference']}").json()["status"] == "paid"

    events = storefront.verified(SECRET)  # each signature checked as the storefront would
    assert [e["type"] for e in events] == ["order.paid", "payout.processing", "payout.paid"]
    paid = events[0]["data"]
    assert (paid["order"]["id"], paid["order"]["buyer"], paid["payment"]["reference"]) == (
        order["id"],
        "u-1",
        payment["reference"],
    )
    assert events[-1]["data"]["payout"] | {"destination": ""} == {
        "reference": payout["reference"],
        "creator": "c-1",
        "status": "paid",
        "amount": "23500.00",
        "currency": "TZS",
        "destination": "",
    }
    assert Payment.objects.get().status == Payment.Status.COMPLETED
    assert Payout.objects.get().status == Payout.Status.PAID


@pytest.mark.django_db(transaction=True)
def test_card_and_checkout_link_payments_come_back_with_the_simulators_link(world, live_server):
    simulator, storefront = world
    _, key = StorefrontKey.objects.create_key(name="storefront", scopes=[Scope.STOREFRONT])
    http = requests.Session()
    http.headers["Authorization"] = f"Api-Key {key}"
    api = f"{live_server.url}/api/v1"
    http.put(f"{api}/people/u-1", json={"name": "Baraka"})
    http.put(f"{api}/people/c-1", json={"name": "Amina", "is_creator": True})
    links = {}
    for method in ("card", "checkout_link"):
        order = http.post(
            f"{api}/orders",
            json={"buyer": "u-1", "lines": [{"creator": "c-1", "transaction_type": "tip", "amount": "5000"}]},
            headers={"Idempotency-Key": f"o-{method}"},
        ).json()
        body = {"method": method, "customer": "u-1"} if method == "card" else {"method": method}
        response = http.post(f"{api}/orders/{order['id']}/payments", json=body, headers={"Idempotency-Key": method})
        assert response.status_code == 201, response.text
        links[method] = response.json()["link"]
    assert links["card"].startswith(simulator.url + "/pay/card/")
    assert links["checkout_link"].startswith(simulator.url + "/checkout/")
    simulator.deliver_pending()
    assert set(Payment.objects.values_list("status", flat=True)) == {Payment.Status.COMPLETED}
    assert storefront.types() == ["order.paid", "order.paid"]
