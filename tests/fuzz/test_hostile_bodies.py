"""Generated hostile bodies on both endpoints: never a 5xx, never money moved, every refusal kept with its reason.

Hypothesis runs a fixed sequence of examples (derandomized) so that CI sees the same bodies
every run; the example counts add up, with the schema-driven tests, to well over 2,000 bodies.
"""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clickpesa.checksum import sign
from clickpesa.models import WebhookEvent
from tests.clickpesa.samples import SAMPLE_KEY
from tests.factories import PaymentFactory, PayoutFactory
from tests.fuzz.conftest import assert_answered_and_kept, encode_any, fuzz_settings, money_state, send
from tests.webhooks import sample_body, use_checksum_key

pytestmark = pytest.mark.django_db

ENDPOINTS = st.sampled_from(["payments", "payouts"])
EVENT_NAMES = st.sampled_from(
    ["PAYMENT RECEIVED", "PAYMENT FAILED", "PAYOUT INITIATED", "PAYOUT REFUNDED", "PAYOUT REVERSED", "DEPOSIT RECEIVED"]
) | st.text(max_size=40)
STATUSES = st.sampled_from(["SUCCESS", "SETTLED", "FAILED", "PROCESSING", "REFUNDED", "REVERSED", "success", ""]) | (
    st.text(max_size=20)
)
AMOUNTS = st.one_of(
    st.decimals(min_value=-(10**15), max_value=10**15, allow_nan=False, places=3).map(str),
    st.sampled_from(["25000", "0", "-1", "1e5", "NaN", "Infinity", "25000.001", " 25000 ", "0x10", "9" * 40]),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
)
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
SMALL_JSON = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=6,
)
"""Cheaper to draw than JSON_VALUES, for the extra fields inside an envelope."""
CHECKSUMS = st.one_of(
    st.none(),
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    st.text(max_size=80),
    st.integers(),
    st.lists(st.text(max_size=5), max_size=3),
)
METHODS = st.none() | st.sampled_from(["canonical", "legacy", "LEGACY", " Legacy ", "md5", ""]) | st.integers()


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


@pytest.fixture
def targets():
    """Real rows an attacker would aim at: a pending payment and a pending payout."""
    return PaymentFactory(), PayoutFactory()


@st.composite
def envelopes(draw, references: list[str]) -> dict:
    """Envelopes shaped like ClickPesa's, with every field drawn from hostile values."""
    data = {
        "orderReference": draw(st.sampled_from(references) | st.text(max_size=70) | JSON_SCALARS),
        "status": draw(STATUSES),
        "collectedAmount": draw(AMOUNTS),
        "collectedCurrency": draw(st.sampled_from(["TZS", "USD", "tzs", "KES", ""]) | JSON_SCALARS),
        "amount": draw(AMOUNTS),
        "currency": draw(st.sampled_from(["TZS", "USD"]) | JSON_SCALARS),
        "fee": draw(AMOUNTS),
    }
    data = {key: value for key, value in data.items() if draw(st.booleans()) or key == "orderReference"}
    data.update(draw(st.dictionaries(st.text(max_size=12), SMALL_JSON, max_size=2)))
    body = {"event": draw(EVENT_NAMES | JSON_SCALARS), "data": draw(st.just(data) | SMALL_JSON)}
    checksum, method = draw(CHECKSUMS), draw(METHODS)
    if checksum is not None:
        body["checksum"] = checksum
    if method is not None:
        body["checksumMethod"] = method
    return body


def test_unsigned_or_wrongly_signed_envelopes_are_refused_kept_and_move_no_money(client, targets):
    payment, payout = targets
    before = money_state()
    sent = []

    @fuzz_settings(max_examples=500)
    @given(body=envelopes([payment.reference, payout.reference]), endpoint=ENDPOINTS)
    def deliver(body, endpoint):
        raw = encode_any(body)
        response = send(client, endpoint, raw)
        sent.append(raw)
        assert response.status_code in (400, 401)
        event = assert_answered_and_kept(response, raw)
        assert event.status == WebhookEvent.Status.REJECTED

    deliver()
    assert money_state() == before
    assert len(sent) >= 450


def test_random_bytes_are_refused_and_kept(client, targets):
    before = money_state()
    sent = []

    @fuzz_settings(max_examples=300)
    @given(raw=st.binary(max_size=2048), endpoint=ENDPOINTS)
    def deliver(raw, endpoint):
        response = send(client, endpoint, raw)
        sent.append(raw)
        assert response.status_code in (400, 401)
        assert_answered_and_kept(response, raw)

    deliver()
    assert money_state() == before
    assert len(sent) >= 250


def test_any_json_value_is_refused_and_kept(client, targets):
    before = money_state()
    sent = []

    @fuzz_settings(max_examples=300)
    @given(body=JSON_VALUES, endpoint=ENDPOINTS)
    def deliver(body, endpoint):
        raw = encode_any(body)
        response = send(client, endpoint, raw)
        sent.append(raw)
        assert response.status_code in (400, 401)
        assert_answered_and_kept(response, raw)

    deliver()
    assert money_state() == before
    assert len(sent) >= 250


def test_deep_nesting_and_huge_bodies_are_refused_without_a_crash(client, targets, settings):
    before = money_state()
    limit = settings.CLICKPESA_WEBHOOK_MAX_BYTES
    sent = []

    @fuzz_settings(max_examples=60)
    @given(
        depth=st.integers(min_value=1, max_value=40_000),
        opener=st.sampled_from(["[", '{"a":', '{"event":"PAYMENT RECEIVED","data":']),
        endpoint=ENDPOINTS,
    )
    def deliver(depth, opener, endpoint):
        closer = "]" if opener == "[" else "}"
        raw = (opener * depth + "1" + closer * depth).encode()
        response = send(client, endpoint, raw)
        sent.append(raw)
        assert response.status_code in ((413,) if len(raw) > limit else (400, 401))
        assert_answered_and_kept(response, raw)

    deliver()
    assert money_state() == before
    assert len(sent) >= 50


def test_signed_payment_events_move_money_only_by_the_rules(client, targets):
    """Signed with our key but otherwise hostile: a payment is captured at most once, only by a matching success."""
    payments = [targets[0], *(PaymentFactory() for _ in range(4))]
    references = [p.reference for p in payments]
    eligible: set[str] = set()
    sent = []

    @fuzz_settings(max_examples=200)
    @given(
        body=envelopes(references),
        genuine=st.sampled_from(payments),
        use_genuine=st.booleans(),
        amount_delta=st.sampled_from(["0", "0", "0.01", "-1", "1000"]),
    )
    def deliver(body, genuine, use_genuine, amount_delta):
        if use_genuine:
            # A real success for a real payment, perhaps with its amount changed before signing.
            amount = genuine.amount + type(genuine.amount)(amount_delta)
            body = sample_body("payment_received", reference=genuine.reference, amount=amount, currency="TZS")
        signed = sign(body, SAMPLE_KEY) if isinstance(body.get("checksum"), str | type(None)) else body
        raw = encode_any(signed)
        response = send(client, "payments", raw)
        sent.append(raw)
        event = assert_answered_and_kept(response, raw)
        if response.status_code == 200 and _is_matching_success(signed, payments):
            eligible.add(signed["data"]["orderReference"])
        assert event.status != WebhookEvent.Status.FAILED
        _assert_captures_follow_the_rules(payments, eligible)

    deliver()
    assert len(sent) >= 160
    assert eligible, "no example delivered a matching success: the property was never exercised"


def _is_matching_success(body: dict, payments: list) -> bool:
    data = body.get("data")
    if body.get("event") != "PAYMENT RECEIVED" or not isinstance(data, dict):
        return False
    by_reference = {p.reference: p for p in payments}
    payment = by_reference.get(data.get("orderReference"))
    return (
        payment is not None
        and data.get("collectedAmount") == str(payment.amount)
        and (data.get("collectedCurrency") == payment.currency)
    )


def _assert_captures_follow_the_rules(payments: list, eligible: set[str]) -> None:
    """Each payment captured at most once, only after a matching success, for exactly its amount (one query)."""
    from revenue.models import LedgerEntry

    captures = list(
        LedgerEntry.objects.filter(
            transaction__payment__in=payments,
            transaction__kind="PAYMENT_CAPTURE",
            account__kind="GATEWAY_CASH",
        ).values_list("transaction__payment__reference", "amount")
    )
    amounts = {p.reference: p.amount for p in payments}
    assert len({reference for reference, _ in captures}) == len(captures)
    for reference, amount in captures:
        assert reference in eligible
        assert amount == amounts[reference]


def test_signed_payout_events_return_or_settle_a_payout_at_most_once(client, targets):
    from revenue.ledger import ledger_audit
    from revenue.models import LedgerTransaction

    payouts = [targets[1], PayoutFactory()]
    references = [p.reference for p in payouts]
    sent = []

    @fuzz_settings(max_examples=150)
    @given(body=envelopes(references), name=st.sampled_from(["PAYOUT INITIATED", "PAYOUT REFUNDED", "PAYOUT REVERSED"]))
    def deliver(body, name):
        if isinstance(body.get("data"), dict) and body["data"].get("orderReference") in references:
            body = {**body, "event": name}
        raw = encode_any(sign(body, SAMPLE_KEY))
        response = send(client, "payouts", raw)
        sent.append(raw)
        assert_answered_and_kept(response, raw)
        for payout in payouts:
            moves = LedgerTransaction.objects.filter(payout=payout)
            assert moves.filter(kind=LedgerTransaction.Kind.PAYOUT_SETTLE).count() <= 1
            assert moves.filter(kind=LedgerTransaction.Kind.PAYOUT_RETURN).count() <= 1

    deliver()
    assert len(sent) >= 120
    assert ledger_audit(record=False).ok


@pytest.mark.parametrize("field", ["orderReference", "id", "message", "channel"])
def test_a_signed_body_with_a_nul_character_is_refused_not_failed(client, targets, field):
    """Found by the fuzzing above: a NUL in a field the handler stores or looks up made PostgreSQL fail (500)."""
    payment = targets[0]
    body = sample_body("payment_received", reference=payment.reference, amount=payment.amount, currency="TZS")
    body["data"][field] = f"{body['data'][field]}\x00"
    before = money_state()

    raw = encode_any(sign(body, SAMPLE_KEY))
    response = send(client, "payments", raw)

    assert (response.status_code, response.json()["error"]) == (400, f"NUL character in '{field}'")
    assert_answered_and_kept(response, raw)
    assert money_state() == before


def test_the_sample_bodies_still_pass_after_the_fuzzing_shapes_of_them(client, targets):
    """A control: the generators' genuine branch really is accepted, so the refusals above are not vacuous."""
    payment = targets[0]
    body = sample_body("payment_received", reference=payment.reference, amount=payment.amount, currency="TZS")

    response = send(client, "payments", json.dumps(sign(body, SAMPLE_KEY)).encode())

    assert response.json()["status"] == "processed"
