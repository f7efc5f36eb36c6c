"""Tests for clickpesa.checksum: canonical JSON, the vectors of docs/clickpesa.md, verify() outcomes."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from clickpesa.checksum import (
    ChecksumMethod,
    ChecksumResult,
    UnverifiableChecksum,
    canonical_json,
    compute,
    sign,
    verify,
)
from clickpesa.jsonwire import escape_non_ascii
from tests.clickpesa.samples import SAMPLE_KEY, sample, sample_names

LEGACY_VECTOR = {"amount": 100, "currency": "USD", "reference": "TX123"}
LEGACY_DIGEST = "85b65bf2670dcdcb8ebb8d19939e4fd59b02d5218741be2eaf9f575273b101d1"
CANONICAL_VECTOR = json.loads(
    '{"amount":100,"currency":"USD","reference":"TX123","exchange":{"toCurrency":"TZS",'
    '"fromCurrency":"TZS","rate":"1","amount":"1000"},"customer":{"name":"John Doe",'
    '"email":"john@example.com","phone":"+255123456789"}}'
)
CANONICAL_DIGEST = "d777a80827f17cf7882f9ac5efa68416ec680e2d1ab72ad415228d00e4ac4957"
PAYMENT_RECEIVED_DIGEST = "37a073375160c32273a90ac133cecdd322eb780e0fad2a2f799509109a912a19"


def _hmac_hex(key: str, message: str) -> str:
    return hmac.new(key.encode(), message.encode("utf-8"), hashlib.sha256).hexdigest()


def test_it_matches_the_legacy_test_vector() -> None:
    """The legacy vector concatenates "100USDTX123" and gives the documented digest."""
    assert compute(LEGACY_VECTOR, "secret-key", "legacy") == LEGACY_DIGEST


def test_it_verifies_the_legacy_test_vector() -> None:
    """A flat body signed with the legacy method verifies when it says so."""
    body = {**LEGACY_VECTOR, "checksum": LEGACY_DIGEST, "checksumMethod": "legacy"}

    assert verify(body, "secret-key") == ChecksumResult.VALID


def test_it_matches_the_canonical_test_vector() -> None:
    """The nested canonical vector gives the documented digest."""
    assert compute(CANONICAL_VECTOR, "secret-key") == CANONICAL_DIGEST


def test_it_matches_the_payment_received_test_vector() -> None:
    """payment_received.json without its checksum gives the digest docs/clickpesa.md lists."""
    body = sample("payment_received.json")
    del body["checksum"]

    assert compute(body, SAMPLE_KEY) == PAYMENT_RECEIVED_DIGEST


@pytest.mark.parametrize("name", sample_names())
def test_it_verifies_every_sample(name: str) -> None:
    """Each shared sample carries a checksum that verifies with the sample key."""
    assert verify(sample(name), SAMPLE_KEY) == ChecksumResult.VALID


def test_it_verifies_the_non_ascii_sample() -> None:
    """Names with ë, ü and / are signed over their UTF-8 bytes, unescaped."""
    body = sample("payment_received_non_ascii.json")

    assert compute(body, SAMPLE_KEY) == body["checksum"]


def test_it_accepts_a_checksum_made_over_ascii_escapes_under_the_right_key_only() -> None:
    """A signer that leaves ensure_ascii on (ClickPesa's Python sample) signs the same content: VALID."""
    body = sample("payment_received_non_ascii.json")
    content = {key: value for key, value in body.items() if key != "checksum"}
    escaped = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert "\\u00eb" in escaped

    assert verify({**body, "checksum": _hmac_hex(SAMPLE_KEY, escaped)}, SAMPLE_KEY) == ChecksumResult.VALID
    assert verify({**body, "checksum": _hmac_hex("another-key", escaped)}, SAMPLE_KEY) == ChecksumResult.INVALID


def test_escaping_writes_what_json_dumps_writes() -> None:
    text = canonical_json({"name": "Zoë 😀 Ngowi/Müller"})
    assert escape_non_ascii(text) == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=True)


def test_it_keeps_non_ascii_and_slashes_unescaped() -> None:
    """canonical_json leaves non-ASCII characters and "/" as they are, like JSON.stringify."""
    assert canonical_json({"name": "Zoë Ngowi/Müller"}) == '{"name":"Zoë Ngowi/Müller"}'


def test_it_sorts_keys_at_every_depth() -> None:
    """Object keys are sorted in nested objects too, with compact separators."""
    value = {"b": {"d": 1, "c": {"f": 2, "e": 3}}, "a": "x"}

    assert canonical_json(value) == '{"a":"x","b":{"c":{"e":3,"f":2},"d":1}}'


def test_it_keeps_array_order() -> None:
    """Arrays are not sorted, but objects inside them are."""
    value = {"items": [3, 1, {"z": 0, "y": 1}, 2]}

    assert canonical_json(value) == '{"items":[3,1,{"y":1,"z":0},2]}'


def test_it_serialises_floats_like_javascript() -> None:
    """Integral floats lose ".0" and small or huge ones use JavaScript's exponent form."""
    value = [1.0, 2.5, -0.0, 1e-7, 0.000001, 1e20, 1e21, float("nan")]

    assert canonical_json(value) == "[1,2.5,0,1e-7,0.000001,100000000000000000000,1e+21,null]"


def test_it_orders_array_index_keys_like_javascript() -> None:
    """Keys such as "9" and "10" come first in numeric order, as in a JavaScript object."""
    value = {"b": 1, "10": 2, "9": 3, "01": 4}

    assert canonical_json(value) == '{"9":3,"10":2,"01":4,"b":1}'


def test_it_escapes_lone_surrogates() -> None:
    """An unpaired surrogate is written as \\udXXX, so the result always encodes as UTF-8."""
    text = canonical_json({"s": "a\ud800b"})

    assert text == '{"s":"a\\ud800b"}'
    assert text.encode("utf-8")


def test_it_refuses_values_json_cannot_hold() -> None:
    """A set (or any non-JSON type) raises TypeError rather than serialising ambiguously."""
    with pytest.raises(TypeError):
        canonical_json({"a": {1, 2}})


def test_it_ignores_key_order_of_the_input() -> None:
    """The same content with keys in another order has the same checksum."""
    reordered = dict(reversed(list(CANONICAL_VECTOR.items())))

    assert compute(reordered, "secret-key") == CANONICAL_DIGEST


def test_it_rejects_a_tampered_amount() -> None:
    """Changing collectedAmount after signing makes the checksum INVALID."""
    body = sample("payment_received.json")
    body["data"]["collectedAmount"] = "2500000"

    assert verify(body, SAMPLE_KEY) == ChecksumResult.INVALID


def test_it_rejects_the_wrong_key() -> None:
    """A sample checked with another key is INVALID."""
    assert verify(sample("payment_received.json"), "another-key") == ChecksumResult.INVALID


def test_it_reports_a_missing_checksum() -> None:
    """A body without a checksum field is MISSING."""
    body = sample("payment_received.json")
    del body["checksum"]

    assert verify(body, SAMPLE_KEY) == ChecksumResult.MISSING


@pytest.mark.parametrize("checksum", ["", "   ", None, 12345, ["abc"]])
def test_it_reports_an_empty_or_non_string_checksum_as_missing(checksum: object) -> None:
    """Only a non-empty string counts as a checksum."""
    body = {**sample("payment_received.json"), "checksum": checksum}

    assert verify(body, SAMPLE_KEY) == ChecksumResult.MISSING


def test_it_reports_an_empty_key_as_not_configured() -> None:
    """With no key configured nothing can be checked, even a correct checksum."""
    assert verify(sample("payment_received.json"), "") == ChecksumResult.NOT_CONFIGURED


def test_it_reports_legacy_over_nested_data_as_unverifiable() -> None:
    """A genuine webhook (nested data) that claims the legacy method is UNVERIFIABLE."""
    body = {**sample("payment_received.json"), "checksumMethod": "legacy"}

    assert verify(body, SAMPLE_KEY) == ChecksumResult.UNVERIFIABLE


def test_it_never_accepts_a_legacy_signature_over_nested_data() -> None:
    """Even a checksum that matches some legacy string is not VALID for nested data."""
    body = {"event": "PAYMENT RECEIVED", "data": {"collectedAmount": "1"}}
    forged = {
        **body,
        "checksumMethod": "legacy",
        "checksum": _hmac_hex(SAMPLE_KEY, "[object Object]PAYMENT RECEIVED"),
    }

    assert verify(forged, SAMPLE_KEY) == ChecksumResult.UNVERIFIABLE


def test_it_accepts_uppercase_hex() -> None:
    """Hex case does not matter."""
    body = sample("payment_received.json")
    body["checksum"] = body["checksum"].upper()

    assert verify(body, SAMPLE_KEY) == ChecksumResult.VALID


def test_it_reads_the_checksum_method_case_insensitively() -> None:
    """The method word LEGACY, in any case and with spaces around it, selects the legacy method."""
    body = {**LEGACY_VECTOR, "checksum": LEGACY_DIGEST, "checksumMethod": " LEGACY "}

    assert verify(body, "secret-key") == ChecksumResult.VALID


def test_it_treats_an_explicit_canonical_method_as_canonical() -> None:
    """An explicit canonical method (any case) is left out of the content and selects canonical."""
    body = {**sample("payment_received.json"), "checksumMethod": "Canonical"}

    assert verify(body, SAMPLE_KEY) == ChecksumResult.VALID


@pytest.mark.parametrize("method", ["sha1", "md5", "none", 1, {"m": "legacy"}])
def test_it_rejects_an_unknown_checksum_method(method: object) -> None:
    """An unknown method word (or a non-string method) is INVALID, whatever the checksum."""
    body = {**sample("payment_received.json"), "checksumMethod": method}

    assert verify(body, SAMPLE_KEY) == ChecksumResult.INVALID


def test_it_checks_a_provided_checksum_instead_of_the_body_field() -> None:
    """A checksum passed in (say from a header) is checked over the body without one."""
    body = sample("payment_received.json")
    checksum = body.pop("checksum")

    assert verify(body, SAMPLE_KEY, provided=checksum) == ChecksumResult.VALID
    assert verify(body, SAMPLE_KEY, provided="0" * 64) == ChecksumResult.INVALID


def test_it_rejects_a_non_hex_checksum_without_raising() -> None:
    """Garbage, including non-ASCII, is simply INVALID."""
    body = {**sample("payment_received.json"), "checksum": "zoë" * 20}

    assert verify(body, SAMPLE_KEY) == ChecksumResult.INVALID


def test_it_stringifies_legacy_values_like_javascript() -> None:
    """Legacy joins String(value) in key order: 1.0 -> 1, True -> true, None -> null."""
    payload = {"d": 2.5, "c": None, "b": True, "a": 1.0, "e": "x"}

    assert compute(payload, "k", "legacy") == _hmac_hex("k", "1truenull2.5x")


def test_it_raises_unverifiable_for_nested_legacy_values() -> None:
    """compute() refuses the legacy method over an object or array, with a ValueError subclass."""
    with pytest.raises(UnverifiableChecksum):
        compute({"a": "1", "data": {"b": 2}}, "k", "legacy")
    with pytest.raises(ValueError):
        compute({"a": ["1"]}, "k", ChecksumMethod.LEGACY)


def test_it_refuses_an_empty_key_or_unknown_method_when_computing() -> None:
    """compute() raises ValueError rather than signing with no key or an unknown method."""
    with pytest.raises(ValueError):
        compute({"a": "1"}, "")
    with pytest.raises(ValueError):
        compute({"a": "1"}, "k", "sha1")


def test_it_leaves_checksum_fields_out_of_the_content() -> None:
    """checksum and checksumMethod at the top level do not change the computed value."""
    plain = compute(CANONICAL_VECTOR, "secret-key")
    decorated = compute({**CANONICAL_VECTOR, "checksum": "x", "checksumMethod": "canonical"}, "secret-key")

    assert plain == decorated == CANONICAL_DIGEST


def test_it_signs_a_copy_that_verifies() -> None:
    """sign() adds a canonical checksum to a copy and leaves the input untouched."""
    body = {"event": "PAYMENT RECEIVED", "data": {"orderReference": "BLN1", "collectedAmount": "10"}}

    signed = sign(body, "k")

    assert "checksum" not in body
    assert "checksumMethod" not in signed
    assert verify(signed, "k") == ChecksumResult.VALID


def test_it_signs_with_the_legacy_method_when_asked() -> None:
    """A legacy signature carries checksumMethod "legacy" and verifies for flat bodies."""
    signed = sign(LEGACY_VECTOR, "secret-key", "legacy")

    assert signed["checksumMethod"] == "legacy"
    assert signed["checksum"] == LEGACY_DIGEST
    assert verify(signed, "secret-key") == ChecksumResult.VALID


def test_it_replaces_an_old_signature_when_signing() -> None:
    """Re-signing a legacy-signed body canonically drops the old method and checksum."""
    signed = sign(sign(LEGACY_VECTOR, "secret-key", "legacy"), "secret-key")

    assert "checksumMethod" not in signed
    assert signed["checksum"] == compute(LEGACY_VECTOR, "secret-key")
