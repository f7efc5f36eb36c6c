"""Tests for clickpesa.payloads: envelopes, statuses, money, and the payment/payout/deposit shapes."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from clickpesa.checksum import sign
from clickpesa.payloads import (
    GatewayStatus,
    PayloadError,
    dedupe_key,
    normalize_status,
    parse_deposit,
    parse_envelope,
    parse_money,
    parse_payment,
    parse_payout,
)
from tests.clickpesa.samples import sample, sample_bytes


def _body(value: object) -> bytes:
    return json.dumps(value).encode()


# Envelope


def test_it_parses_a_sample_envelope() -> None:
    """A real webhook yields its event, data, checksum and the whole body."""
    envelope = parse_envelope(sample_bytes("payment_received.json"))

    assert envelope.event == "PAYMENT RECEIVED"
    assert envelope.data["collectedAmount"] == "25000"
    assert envelope.checksum == sample("payment_received.json")["checksum"]
    assert envelope.checksum_method is None
    assert envelope.body == sample("payment_received.json")
    assert envelope.order_reference == "BLN24A7F3K9"


def test_it_normalises_the_event_name() -> None:
    """The event is upper-cased with runs of whitespace collapsed."""
    envelope = parse_envelope(_body({"event": "  payment \t  received ", "data": {}}))

    assert envelope.event == "PAYMENT RECEIVED"


def test_it_accepts_event_type_from_the_old_docs() -> None:
    """An old-style body naming its event in eventType is accepted."""
    envelope = parse_envelope(_body({"eventType": "PAYMENT FAILED", "data": {}}))

    assert envelope.event == "PAYMENT FAILED"


def test_it_prefers_event_over_event_type() -> None:
    """When both are present, event wins."""
    envelope = parse_envelope(_body({"event": "PAYOUT INITIATED", "eventType": "X", "data": {}}))

    assert envelope.event == "PAYOUT INITIATED"


def test_it_keeps_the_checksum_method() -> None:
    """checksumMethod is carried through as sent."""
    envelope = parse_envelope(_body({"event": "E", "data": {}, "checksum": "ab", "checksumMethod": "legacy"}))

    assert envelope.checksum == "ab"
    assert envelope.checksum_method == "legacy"


def test_it_drops_non_string_checksum_fields() -> None:
    """A checksum or method that is not a string is reported as None."""
    envelope = parse_envelope(_body({"event": "E", "data": {}, "checksum": 1, "checksumMethod": ["x"]}))

    assert envelope.checksum is None
    assert envelope.checksum_method is None


@pytest.mark.parametrize("reference", [None, "", "   ", 42])
def test_it_has_no_order_reference_unless_a_non_empty_string(reference: object) -> None:
    """Envelope.order_reference is None for absent, blank or non-string references."""
    envelope = parse_envelope(_body({"event": "E", "data": {"orderReference": reference}}))

    assert envelope.order_reference is None


def test_it_trims_the_order_reference() -> None:
    """Envelope.order_reference strips surrounding whitespace."""
    envelope = parse_envelope(_body({"event": "E", "data": {"orderReference": " BLN1 "}}))

    assert envelope.order_reference == "BLN1"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xfe{}", "body is not valid UTF-8"),
        (b"{not json", "body is not valid JSON"),
        (b"", "body is not valid JSON"),
        (b'{"event": "E", "data": {"a": NaN}}', "body is not valid JSON"),
        (b'{"event": "E", "data": {"a": Infinity}}', "body is not valid JSON"),
        (b'[{"event": "E", "data": {}}]', "body must be a JSON object"),
        (b"42", "body must be a JSON object"),
        (b"null", "body must be a JSON object"),
        (b'"PAYMENT RECEIVED"', "body must be a JSON object"),
        (b'{"data": {}}', "missing 'event'"),
        (b'{"event": "", "data": {}}', "invalid 'event'"),
        (b'{"event": "   ", "data": {}}', "invalid 'event'"),
        (b'{"event": 7, "data": {}}', "invalid 'event'"),
        (b'{"event": "E"}', "missing 'data' object"),
        (b'{"event": "E", "data": null}', "missing 'data' object"),
        (b'{"event": "E", "data": [1]}', "'data' must be an object"),
        (b'{"event": "E", "data": "x"}', "'data' must be an object"),
    ],
)
def test_it_rejects_a_malformed_envelope(raw: bytes, message: str) -> None:
    """Each kind of unusable body gets its own short message."""
    with pytest.raises(PayloadError) as caught:
        parse_envelope(raw)

    assert str(caught.value) == message


def test_it_rejects_duplicate_keys() -> None:
    """A body naming a key twice is ambiguous, so it is refused."""
    with pytest.raises(PayloadError, match="duplicate key 'event'"):
        parse_envelope(b'{"event": "PAYMENT FAILED", "event": "PAYMENT RECEIVED", "data": {}}')


def test_it_rejects_deep_nesting() -> None:
    """Nesting far beyond any real webhook is refused before anything recurses over it."""
    deep = '{"event": "E", "data": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}"

    with pytest.raises(PayloadError, match="nested too deeply"):
        parse_envelope(deep.encode())


def test_it_rejects_absurdly_deep_nesting_as_invalid_json() -> None:
    """Nesting deep enough to exhaust the JSON parser's recursion is still a PayloadError."""
    deep = "[" * 200_000 + "]" * 200_000

    with pytest.raises(PayloadError):
        parse_envelope(deep.encode())


# Dedupe key


def test_it_gives_the_same_dedupe_key_whatever_the_key_order_and_spacing() -> None:
    """Reordered keys and different whitespace are the same delivery."""
    body = sample("payment_received.json")
    reordered = {key: body[key] for key in reversed(list(body))}
    reordered["data"] = dict(reversed(list(body["data"].items())))
    compact = json.dumps(reordered, separators=(",", ":")).encode()

    assert dedupe_key(parse_envelope(compact).body) == dedupe_key(
        parse_envelope(sample_bytes("payment_received.json")).body
    )


def test_it_gives_the_same_dedupe_key_when_re_signed() -> None:
    """The same event with another checksum or method is the same delivery."""
    body = sample("payment_received.json")

    assert dedupe_key(body) == dedupe_key(sign(body, "another-key"))
    assert dedupe_key(body) == dedupe_key({**body, "checksumMethod": "legacy"})


def test_it_changes_the_dedupe_key_when_content_changes() -> None:
    """A different status is a different delivery."""
    first = sample("payout_initiated_processing.json")
    second = sample("payout_initiated_success.json")

    assert dedupe_key(first) != dedupe_key(second)


def test_it_makes_a_sha256_hex_dedupe_key() -> None:
    """The key is 64 lowercase hex characters."""
    key = dedupe_key(sample("deposit_received.json"))

    assert re.fullmatch("[0-9a-f]{64}", key)


# Status


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("SUCCESS", GatewayStatus.SUCCESS),
        ("success", GatewayStatus.SUCCESS),
        ("completed", GatewayStatus.SUCCESS),
        ("Paid", GatewayStatus.SUCCESS),
        ("SETTLED", GatewayStatus.SETTLED),
        ("failed", GatewayStatus.FAILED),
        ("cancelled", GatewayStatus.FAILED),
        ("REJECTED", GatewayStatus.FAILED),
        ("initiated", GatewayStatus.PROCESSING),
        ("processing", GatewayStatus.PROCESSING),
        ("pending", GatewayStatus.PENDING),
        ("authorized", GatewayStatus.AUTHORIZED),
        ("refunded", GatewayStatus.REFUNDED),
        ("reversed", GatewayStatus.REVERSED),
        ("ON-HOLD", GatewayStatus.ON_HOLD),
        ("on_hold", GatewayStatus.ON_HOLD),
        ("On Hold", GatewayStatus.ON_HOLD),
        ("  success\n", GatewayStatus.SUCCESS),
    ],
)
def test_it_normalises_status_words(raw: str, expected: GatewayStatus) -> None:
    """Wire words and the old vocabulary map to one status, ignoring case and spacing."""
    assert normalize_status(raw) == expected


@pytest.mark.parametrize("raw", ["", "DONE", "onhold", "SUCCESSFUL", None, 1, ["SUCCESS"]])
def test_it_returns_none_for_unknown_statuses(raw: object) -> None:
    """Anything unrecognised, or not a string, is None."""
    assert normalize_status(raw) is None


def test_it_uses_the_wire_spelling_for_on_hold() -> None:
    """ON_HOLD's value is "ON-HOLD", as ClickPesa writes it."""
    assert GatewayStatus.ON_HOLD.value == "ON-HOLD"


# Money


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("25000", Decimal("25000.00")),
        ("20000.00", Decimal("20000.00")),
        (" 12500.5 ", Decimal("12500.50")),
        ("25000.000", Decimal("25000.00")),
        (100, Decimal("100.00")),
        (12.5, Decimal("12.50")),
        (Decimal("7.1"), Decimal("7.10")),
        ("999999999999.99", Decimal("999999999999.99")),
    ],
)
def test_it_parses_money(value: object, expected: Decimal) -> None:
    """Strings, ints, floats (via str) and Decimals become two-place Decimals."""
    parsed = parse_money(value, "amount")

    assert parsed == expected
    assert parsed.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "invalid amount 'abc'"),
        ("NaN", "invalid amount 'NaN'"),
        ("Infinity", "invalid amount 'Infinity'"),
        (float("nan"), "invalid amount NaN"),
        (True, "invalid amount true"),
        ("", "invalid amount ''"),
        ("1e3", "invalid amount '1e3'"),
        ("1_000", "invalid amount '1_000'"),
        ("+5", "invalid amount '+5'"),
        ("\u0661\u0662", "invalid amount '\u0661\u0662'"),
        ([1], "invalid amount [1]"),
        (None, "missing amount"),
        ("-5", "amount must be positive"),
        (-5, "amount must be positive"),
        ("0", "amount must be positive"),
        ("0.00", "amount must be positive"),
        ("1.005", "amount has more than 2 decimal places"),
        ("1234567890123", "amount is too large"),
    ],
)
def test_it_rejects_bad_money(value: object, message: str) -> None:
    """Each bad amount gets a specific message naming the field."""
    with pytest.raises(PayloadError) as caught:
        parse_money(value, "amount")

    assert str(caught.value) == message


def test_it_bounds_the_value_shown_in_a_money_error() -> None:
    """A huge rejected value is not echoed in full."""
    with pytest.raises(PayloadError) as caught:
        parse_money("x" * 10_000, "amount")

    assert len(str(caught.value)) < 60


def test_it_allows_a_zero_fee() -> None:
    """allow_zero accepts zero (and minus zero) as 0.00."""
    assert parse_money("0", "fee", allow_zero=True) == Decimal("0.00")
    assert str(parse_money("-0.00", "fee", allow_zero=True)) == "0.00"


def test_it_rejects_a_negative_fee() -> None:
    """A fee may be zero but never negative."""
    with pytest.raises(PayloadError, match="fee must not be negative"):
        parse_money("-1", "fee", allow_zero=True)


# Payments


def test_it_parses_the_current_payment_shape() -> None:
    """PAYMENT RECEIVED with id, collectedAmount and customer{customerName...}."""
    payment = parse_payment(sample("payment_received.json")["data"])

    assert payment.order_reference == "BLN24A7F3K9"
    assert payment.gateway_id == "BLN24A7F3K9LCP1A2B"
    assert payment.payment_reference == "MP240915ABCD1234"
    assert payment.status == GatewayStatus.SUCCESS
    assert payment.raw_status == "SUCCESS"
    assert payment.amount == Decimal("25000")
    assert payment.currency == "TZS"
    assert payment.channel == "M-PESA"
    assert payment.message == "success"
    assert payment.customer_name == "Asha Mwakyusa"
    assert payment.customer_email == "asha@example.com"
    assert payment.customer_phone == "255712345678"


def test_it_parses_the_legacy_payment_shape() -> None:
    """PAYMENT RECEIVED with paymentId, amount, currency and customer{name,email,phone}."""
    payment = parse_payment(sample("payment_received_legacy_fields.json")["data"])

    assert payment.order_reference == "BLN24L3G4C5"
    assert payment.gateway_id == "LEG2024PAY0001"
    assert payment.payment_reference is None
    assert payment.status == GatewayStatus.SUCCESS
    assert payment.amount == Decimal("8000")
    assert payment.currency == "TZS"
    assert payment.customer_name == "Baraka Juma"
    assert payment.customer_email == "baraka@example.com"
    assert payment.customer_phone == "255765111222"


def test_it_parses_a_settled_non_ascii_payment() -> None:
    """The non-ASCII sample keeps its customer name intact."""
    payment = parse_payment(sample("payment_received_non_ascii.json")["data"])

    assert payment.status == GatewayStatus.SETTLED
    assert payment.amount == Decimal("12500.00")
    assert payment.customer_name == "Zoë Ngowi/Müller"


def test_it_parses_a_failed_payment_without_an_amount() -> None:
    """PAYMENT FAILED carries no amount: amount and currency are None, message is the reason."""
    payment = parse_payment(sample("payment_failed.json")["data"])

    assert payment.status == GatewayStatus.FAILED
    assert payment.amount is None
    assert payment.currency is None
    assert payment.message == "Insufficient balance"
    assert payment.customer_name is None


def test_it_prefers_current_payment_fields_over_old_ones() -> None:
    """collectedAmount and collectedCurrency win over amount and currency."""
    data = {"orderReference": "BLN1", "collectedAmount": "10", "amount": "99", "collectedCurrency": "usd"}

    payment = parse_payment(data)

    assert payment.amount == Decimal("10")
    assert payment.currency == "USD"


def test_it_keeps_an_unknown_payment_status_raw() -> None:
    """An unknown status word is kept as sent with status None."""
    payment = parse_payment({"orderReference": "BLN1", "status": "Weird"})

    assert payment.status is None
    assert payment.raw_status == "Weird"


@pytest.mark.parametrize("reference", [None, "", "  "])
def test_it_requires_a_payment_order_reference(reference: object) -> None:
    """A payment without orderReference cannot be matched and is refused."""
    data = {**sample("payment_received.json")["data"], "orderReference": reference}

    with pytest.raises(PayloadError, match="missing 'orderReference'"):
        parse_payment(data)


def test_it_refuses_a_non_string_order_reference() -> None:
    """Our references are strings; a number is malformed."""
    with pytest.raises(PayloadError, match="invalid 'orderReference'"):
        parse_payment({"orderReference": 123})


@pytest.mark.parametrize("amount", ["abc", "-5", "NaN", True, "1.005"])
def test_it_refuses_a_payment_with_a_bad_amount(amount: object) -> None:
    """A present but invalid collectedAmount is an error, not a silent None."""
    data = {**sample("payment_received.json")["data"], "collectedAmount": amount}

    with pytest.raises(PayloadError, match="collectedAmount"):
        parse_payment(data)


# Payouts


def test_it_parses_an_in_flight_payout() -> None:
    """PAYOUT INITIATED/PROCESSING keeps amount and fee apart and has no reason."""
    payout = parse_payout(sample("payout_initiated_processing.json")["data"])

    assert payout.order_reference == "BLNPO24C1D2E3"
    assert payout.gateway_id == "PAYX7Q2M9"
    assert payout.status == GatewayStatus.PROCESSING
    assert payout.raw_status == "PROCESSING"
    assert payout.amount == Decimal("51180.00")
    assert payout.fee == Decimal("1180.00")
    assert payout.currency == "TZS"
    assert payout.channel == "MOBILE MONEY"
    assert payout.channel_provider == "MPESA TANZANIA"
    assert payout.reason is None
    assert payout.returned_at is None
    assert payout.reversed_with_fee is None


def test_it_reads_a_refund_reason() -> None:
    """PAYOUT REFUNDED takes its reason and time from refund{}."""
    payout = parse_payout(sample("payout_refunded.json")["data"])

    assert payout.status == GatewayStatus.REFUNDED
    assert payout.reason == "The payout was refunded due to a processing error."
    assert payout.returned_at == "2025-09-16T10:02:00.000Z"
    assert payout.channel == "BANK TRANSFER"


def test_it_reads_a_reversal_reason() -> None:
    """PAYOUT REVERSED takes reason, time and reversedWithFee from reverse{}."""
    payout = parse_payout(sample("payout_reversed.json")["data"])

    assert payout.status == GatewayStatus.REVERSED
    assert payout.reason == "The payout was reversed due to invalid account information."
    assert payout.returned_at == "2025-09-17T12:40:00.000Z"
    assert payout.reversed_with_fee is True


def test_it_falls_back_to_the_payout_message_not_the_notes() -> None:
    """Without refund/reverse, data.message is the reason; our own notes never are."""
    data = {"orderReference": "BLNPO1", "status": "FAILED", "message": "Account closed", "notes": "payout"}

    assert parse_payout(data).reason == "Account closed"
    assert parse_payout({"orderReference": "BLNPO1", "notes": "payout"}).reason is None


def test_it_allows_a_zero_payout_fee() -> None:
    """A payout whose fee is zero parses with fee 0.00."""
    data = {**sample("payout_initiated_success.json")["data"], "fee": "0"}

    assert parse_payout(data).fee == Decimal("0.00")


def test_it_refuses_a_payout_with_a_bad_fee() -> None:
    """A negative fee is an error naming the field."""
    data = {**sample("payout_initiated_success.json")["data"], "fee": "-1"}

    with pytest.raises(PayloadError, match="fee must not be negative"):
        parse_payout(data)


def test_it_requires_a_payout_order_reference() -> None:
    """A payout without orderReference is refused."""
    data = dict(sample("payout_reversed.json")["data"])
    del data["orderReference"]

    with pytest.raises(PayloadError, match="missing 'orderReference'"):
        parse_payout(data)


# Deposits


def test_it_parses_the_deposit_sample() -> None:
    """DEPOSIT RECEIVED reads paymentReference, depositAmount and depositCurrency."""
    deposit = parse_deposit(sample("deposit_received.json")["data"])

    assert deposit.reference == "DEP240918TOPUP01"
    assert deposit.gateway_id == "DEP5T6Y7U8"
    assert deposit.amount == Decimal("500000.00")
    assert deposit.currency == "TZS"


def test_it_falls_back_to_plain_deposit_fields() -> None:
    """Without paymentReference/depositAmount/depositCurrency, id/amount/currency are used."""
    deposit = parse_deposit({"id": "DEP1", "amount": "300", "currency": "tzs"})

    assert deposit.reference == "DEP1"
    assert deposit.amount == Decimal("300.00")
    assert deposit.currency == "TZS"


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("depositAmount", "missing 'depositAmount'"),
        ("depositCurrency", "missing 'depositCurrency'"),
    ],
)
def test_it_requires_deposit_amount_and_currency(field: str, message: str) -> None:
    """A deposit without an amount or a currency is refused."""
    data = dict(sample("deposit_received.json")["data"])
    del data[field]

    with pytest.raises(PayloadError, match=message):
        parse_deposit(data)


def test_it_requires_a_deposit_reference() -> None:
    """A deposit with neither paymentReference nor id is refused."""
    with pytest.raises(PayloadError, match="missing 'paymentReference'"):
        parse_deposit({"depositAmount": "1", "depositCurrency": "TZS"})


def test_it_requires_a_positive_deposit() -> None:
    """A zero deposit is refused."""
    data = {**sample("deposit_received.json")["data"], "depositAmount": "0"}

    with pytest.raises(PayloadError, match="depositAmount must be positive"):
        parse_deposit(data)


def test_a_reversed_payment_says_why_and_what_clickpesa_kept():
    from clickpesa.payloads import parse_payment

    data = parse_payment(
        {
            "orderReference": "BLN1",
            "status": "REVERSED",
            "collectedAmount": "26375",
            "message": "Payment received",
            "reverse": {"message": "Reversed on customer request", "reversedWithCharges": True, "charges": "500"},
        }
    )

    assert (data.status, data.message, data.charges) == ("REVERSED", "Reversed on customer request", Decimal("500.00"))
