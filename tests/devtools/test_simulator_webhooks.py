"""The simulator's webhooks: signed, shaped like ClickPesa's samples, and as unreliable as the knobs say.

Webhooks go to a small local HTTP sink that records what arrives; our own endpoints are not involved.
"""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache

from clickpesa.checksum import ChecksumResult, verify
from clickpesa.client import ClickPesaClient
from clickpesa.payloads import GatewayStatus, parse_envelope, parse_payment, parse_payout
from devtools.simulator import PAYMENTS_WEBHOOK_PATH, PAYOUTS_WEBHOOK_PATH, ClickPesaSimulator
from tests.clickpesa.samples import sample

KEY = "sim-checksum-key"
PHONE = "255754000111"
PAYOUT_SAMPLES = ("payout_initiated_processing", "payout_initiated_success", "payout_refunded", "payout_reversed")


class _Recorder(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((self.path, self.headers.get("Content-Type"), raw))
        self.send_response(self.server.answer_status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, fmt: str, *args: object) -> None:
        return


class Sink:
    """A local HTTP server that records every POST it gets and answers ``answer_status``."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
        self.server.received = []
        self.server.answer_status = 200
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def bodies(self) -> list[dict]:
        return [json.loads(raw) for _, _, raw in self.server.received]

    @property
    def paths(self) -> list[str]:
        return [path for path, _, _ in self.server.received]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def simulator_settings(settings):
    settings.CLICKPESA_SIMULATOR_ENABLED = True
    settings.CLICKPESA_CLIENT_ID = "sim-client"
    settings.CLICKPESA_API_KEY = "sim-key"
    settings.CLICKPESA_CHECKSUM_KEY = KEY
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "simwh"}}
    cache.clear()
    return settings


@pytest.fixture
def sink():
    sink = Sink()
    yield sink
    sink.stop()


@pytest.fixture
def start(settings, sink):
    """Start a simulator sending webhooks to the sink, with the given knobs; point the client at it."""
    started: list[ClickPesaSimulator] = []

    def start(**knobs) -> ClickPesaSimulator:
        simulator = ClickPesaSimulator(webhook_url=sink.url, **knobs).start()
        started.append(simulator)
        settings.CLICKPESA_BASE_URL = simulator.url
        return simulator

    yield start
    for simulator in started:
        simulator.stop()


def _pay_out(reference: str = "BLNPO1", amount: str = "50000") -> None:
    ClickPesaClient().create_mobile_money_payout(
        amount=Decimal(amount), phone_number=PHONE, currency="TZS", order_reference=reference
    )


def _steps(bodies: list[dict]) -> list[tuple[str, str]]:
    return [(body["event"], body["data"]["status"]) for body in bodies]


@pytest.mark.parametrize(
    ("outcome", "webhooks", "final"),
    [
        ("success", [("PAYOUT INITIATED", "PROCESSING"), ("PAYOUT INITIATED", "SUCCESS")], "SUCCESS"),
        ("refunded", [("PAYOUT INITIATED", "PROCESSING"), ("PAYOUT REFUNDED", "REFUNDED")], "REFUNDED"),
        ("reversed", [("PAYOUT INITIATED", "PROCESSING"), ("PAYOUT REVERSED", "REVERSED")], "REVERSED"),
        (
            "reversed_after_success",
            [("PAYOUT INITIATED", "PROCESSING"), ("PAYOUT INITIATED", "SUCCESS"), ("PAYOUT REVERSED", "REVERSED")],
            "REVERSED",
        ),
        ("failed", [], "FAILED"),
    ],
)
def test_each_outcome_sends_its_webhooks_in_order_and_ends_in_its_status(start, sink, outcome, webhooks, final):
    simulator = start(outcome=outcome)
    _pay_out()

    simulator.deliver_pending()

    assert _steps(sink.bodies) == webhooks
    assert set(sink.paths) <= {PAYOUTS_WEBHOOK_PATH}
    [payout] = ClickPesaClient().query_payout(order_reference="BLNPO1")
    assert payout.status == GatewayStatus(final)


def test_nothing_is_sent_before_delivery_is_asked_for(start, sink):
    simulator = start()
    _pay_out()

    assert sink.bodies == []
    assert simulator.state.pending_steps == 2


def test_every_webhook_carries_a_valid_checksum(start, sink):
    simulator = start(outcome="reversed_after_success")
    _pay_out()
    ClickPesaClient().initiate_ussd_push(amount=25000, currency="TZS", order_reference="BLN1", phone_number=PHONE)

    simulator.deliver_pending()

    assert len(sink.bodies) == 4
    assert [verify(body, KEY) for body in sink.bodies] == [ChecksumResult.VALID] * 4


def test_webhooks_are_compact_utf8_json(start, sink):
    simulator = start()
    _pay_out()

    simulator.deliver_pending()

    _, content_type, raw = sink.server.received[0]
    assert content_type == "application/json"
    assert parse_envelope(raw).event == "PAYOUT INITIATED"
    assert b": " not in raw


def test_without_a_key_webhooks_are_unsigned(start, sink):
    simulator = start(key="")
    _pay_out()

    simulator.deliver_pending()

    assert [set(body) for body in sink.bodies] == [{"event", "data"}] * 2


def test_payout_webhooks_are_shaped_like_the_samples(start, sink):
    simulator = start(outcome="reversed_after_success")
    _pay_out()
    simulator.deliver_pending()

    sample_keys = set().union(*(sample(f"{name}.json")["data"] for name in PAYOUT_SAMPLES))
    for body in sink.bodies:
        assert set(body) == {"event", "data", "checksum"}
        assert set(body["data"]) <= sample_keys
        parsed = parse_payout(body["data"])
        assert (parsed.order_reference, parsed.amount, parsed.fee) == (
            "BLNPO1",
            Decimal("51180.00"),
            Decimal("1180.00"),
        )
    reversed_ = parse_payout(sink.bodies[-1]["data"])
    assert reversed_.reason == "The payout was reversed due to invalid account information."
    assert reversed_.reversed_with_fee is True


def test_a_refund_webhook_carries_its_reason(start, sink):
    simulator = start(outcome="refunded")
    _pay_out()

    simulator.deliver_pending()

    assert parse_payout(sink.bodies[-1]["data"]).reason == "The payout was refunded due to a processing error."


def test_a_received_payment_is_shaped_like_the_sample(start, sink):
    simulator = start()
    ClickPesaClient().initiate_ussd_push(amount=25000, currency="TZS", order_reference="BLN1", phone_number=PHONE)

    simulator.deliver_pending()

    [body] = sink.bodies
    expected = sample("payment_received.json")
    assert sink.paths == [PAYMENTS_WEBHOOK_PATH]
    assert body["event"] == "PAYMENT RECEIVED"
    assert set(body["data"]) == set(expected["data"])
    assert set(body["data"]["customer"]) == set(expected["data"]["customer"])
    parsed = parse_payment(body["data"])
    assert (parsed.order_reference, parsed.status, parsed.amount) == ("BLN1", GatewayStatus.SUCCESS, Decimal("25000"))


def test_a_failed_payment_is_shaped_like_the_sample(start, sink):
    simulator = start()
    simulator.plan("BLN2", "failed")
    ClickPesaClient().initiate_ussd_push(amount=25000, currency="TZS", order_reference="BLN2", phone_number=PHONE)

    simulator.deliver_pending()

    [body] = sink.bodies
    assert body["event"] == "PAYMENT FAILED"
    assert set(body["data"]) == set(sample("payment_failed.json")["data"])
    assert ClickPesaClient().query_payment(order_reference="BLN2")[0].status == GatewayStatus.FAILED


def test_duplicates_deliver_each_webhook_again(start, sink):
    simulator = start(duplicates=2)
    _pay_out()

    simulator.deliver_pending()

    assert _steps(sink.bodies) == [("PAYOUT INITIATED", "PROCESSING")] * 3 + [("PAYOUT INITIATED", "SUCCESS")] * 3
    assert sink.bodies[0] == sink.bodies[1] == sink.bodies[2]


def test_shuffle_delivers_out_of_order_but_the_state_follows_the_true_order(start, sink):
    simulator = start(shuffle=True, seed=3)
    _pay_out()

    simulator.deliver_pending()

    assert _steps(sink.bodies) == [("PAYOUT INITIATED", "SUCCESS"), ("PAYOUT INITIATED", "PROCESSING")]
    assert simulator.payouts["BLNPO1"].status == "SUCCESS"


def test_dropped_webhooks_never_arrive_but_the_query_recovers_the_state(start, sink):
    simulator = start(drop_rate=1.0, outcome="refunded")
    _pay_out()

    deliveries = simulator.deliver_pending()

    assert sink.bodies == []
    assert [(d.event, d.dropped) for d in deliveries] == [("PAYOUT INITIATED", True), ("PAYOUT REFUNDED", True)]
    assert ClickPesaClient().query_payout(order_reference="BLNPO1")[0].status == GatewayStatus.REFUNDED


def test_a_partial_drop_rate_drops_some_deliveries(start, sink):
    simulator = start(drop_rate=0.5, seed=7)
    for number in range(10):
        _pay_out(reference=f"BLNPO{number}")

    deliveries = simulator.deliver_pending()

    dropped = sum(delivery.dropped for delivery in deliveries)
    assert 0 < dropped < 20
    assert len(sink.bodies) == 20 - dropped


def test_deliver_pending_can_deliver_one_reference(start, sink):
    simulator = start()
    _pay_out(reference="BLNPO1")
    _pay_out(reference="BLNPO2")

    simulator.deliver_pending("BLNPO2")

    assert {body["data"]["orderReference"] for body in sink.bodies} == {"BLNPO2"}
    assert simulator.payouts["BLNPO1"].status == "AUTHORIZED"


def test_a_planned_outcome_wins_over_the_default(start, sink):
    simulator = start(outcome="success")
    simulator.plan("BLNPO1", "reversed")
    _pay_out()

    simulator.deliver_pending()

    assert _steps(sink.bodies)[-1] == ("PAYOUT REVERSED", "REVERSED")


def test_mixed_outcomes_depend_on_the_seed_and_reference_not_on_order(start):
    first = start(outcome="mixed", seed=11)
    for number in range(20):
        _pay_out(reference=f"BLNPO{number}")
    second = start(outcome="mixed", seed=11)
    for number in reversed(range(20)):
        _pay_out(reference=f"BLNPO{number}")

    outcomes = {reference: payout.outcome for reference, payout in first.payouts.items()}
    assert outcomes == {reference: payout.outcome for reference, payout in second.payouts.items()}
    assert len(set(outcomes.values())) > 1


def test_returned_payouts_credit_the_merchant_balance_back(start):
    simulator = start(outcome="refunded", balance=Decimal("100000.00"))
    _pay_out()

    simulator.deliver_pending()

    assert simulator.state.balances["TZS"] == Decimal("100000.00")
    assert [(row.type, row.entry) for row in simulator.state.statement][-1] == ("Refunded Payout", "Credit")


def test_the_answer_of_our_endpoint_is_recorded(start, sink):
    sink.server.answer_status = 500
    simulator = start()
    _pay_out()

    deliveries = simulator.deliver_pending()

    assert [delivery.status_code for delivery in deliveries] == [500, 500]
    assert simulator.deliveries == deliveries


def test_auto_delivery_sends_webhooks_on_its_own(start, sink):
    simulator = start(auto_deliver=True, delay=0.05)
    _pay_out()

    assert simulator.wait_idle(timeout=10) is True

    assert _steps(sink.bodies) == [("PAYOUT INITIATED", "PROCESSING"), ("PAYOUT INITIATED", "SUCCESS")]
