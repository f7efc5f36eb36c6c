"""core.phones: every written form of a Tanzanian mobile number is one ``255XXXXXXXXX``."""

import pytest

from core.errors import BlinnoError
from core.phones import InvalidPhoneNumber, Operator, phone_normalize, phone_parse


@pytest.mark.parametrize(
    "text",
    [
        "0754123456",
        "0754 123 456",
        "0754-123-456",
        "+255754123456",
        "+255 754 123 456",
        "+255-754-123-456",
        "255754123456",
        "255 754 123456",
        "754123456",
        " (0754) 123.456 ",
    ],
)
def test_it_reads_every_written_form_as_one_number(text):
    assert phone_normalize(text) == "255754123456"


@pytest.mark.parametrize(
    ("text", "operator"),
    [
        ("0754000000", Operator.VODACOM),
        ("0745000000", Operator.VODACOM),
        ("0768000000", Operator.VODACOM),
        ("0688000000", Operator.AIRTEL),
        ("0787000000", Operator.AIRTEL),
        ("0655000000", Operator.TIGO),
        ("0715000000", Operator.TIGO),
        ("0777000000", Operator.TIGO),
        ("0622000000", Operator.HALOTEL),
        ("0735000000", Operator.TTCL),
    ],
)
def test_it_names_the_operator_from_the_prefix(text, operator):
    assert phone_parse(text).operator is operator


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "075412345",  # a digit short
        "07541234567",  # a digit long
        "+254712345678",  # Kenya
        "00255754123456",
        "0754 123 45a",
        "0754/123/456",
        "0222123456",  # a Dar es Salaam landline
        "0800123456",  # toll-free
        "٠٧٥٤١٢٣٤٥٦",  # Arabic-Indic digits are not what ClickPesa reads
        "+",
    ],
)
def test_it_refuses_what_is_not_a_tanzanian_mobile_number(text):
    with pytest.raises(InvalidPhoneNumber) as refused:
        phone_normalize(text)
    assert refused.value.code == "invalid_phone_number"


def test_its_refusal_is_a_domain_error_that_names_the_input():
    with pytest.raises(BlinnoError, match="0222123456"):
        phone_parse("0222123456")
