"""One log line per webhook: event id, reference, outcome and duration; never the customer's phone or email."""

import logging
import re

import pytest

from tests.factories import PaymentFactory
from tests.faults import failing_inserts
from tests.webhooks import payment_body, post_webhook, use_checksum_key

pytestmark = pytest.mark.django_db

CUSTOMER = ("255712345678", "asha@example.com", "Asha", "Mwakyusa")
"""The customer in the payment sample: none of it may reach a log."""

LINE = re.compile(
    r'^webhook event=(?P<event>\d+) endpoint=payments name="PAYMENT RECEIVED" reference="(?P<reference>\w+)" '
    r'outcome="(?P<outcome>[^"]+)" http=(?P<http>\d{3}) duration_ms=(?P<duration>\d+)$'
)


@pytest.fixture(autouse=True)
def _checksum_key(settings):
    use_checksum_key(settings)


def _webhook_lines(caplog) -> list[re.Match]:
    lines = [r.getMessage() for r in caplog.records if r.name == "clickpesa.metrics" and "endpoint=" in r.getMessage()]
    return [LINE.match(line) for line in lines]


def _assert_no_customer_data(caplog) -> None:
    text = "\n".join(record.getMessage() for record in caplog.records)
    for value in CUSTOMER:
        assert value not in text


@pytest.mark.usefixtures("inline_settling")
def test_a_processed_webhook_logs_one_line_with_its_event_reference_outcome_and_duration(client, caplog):
    payment = PaymentFactory()
    body = payment_body(payment)
    assert body["data"]["customer"]["customerPhoneNumber"] == CUSTOMER[0]

    with caplog.at_level(logging.INFO, logger="clickpesa.metrics"):
        event_id = post_webhook(client, body).json()["event"]

    [line] = _webhook_lines(caplog)
    assert line is not None
    assert (int(line["event"]), line["reference"], line["outcome"], line["http"]) == (
        event_id,
        payment.reference,
        "processed",
        "200",
    )
    assert int(line["duration"]) >= 0
    _assert_no_customer_data(caplog)


def test_a_refused_webhook_logs_its_reason_and_no_customer_data(client, caplog):
    payment = PaymentFactory()

    with caplog.at_level(logging.INFO, logger="clickpesa.metrics"):
        post_webhook(client, payment_body(payment), key="not-our-key")

    [line] = _webhook_lines(caplog)
    assert (line["outcome"], line["http"]) == ("error: checksum invalid", "401")
    assert caplog.records[-1].levelno == logging.WARNING
    _assert_no_customer_data(caplog)


@pytest.mark.usefixtures("inline_settling")
def test_a_failed_webhook_logs_the_error_and_no_customer_data(client, caplog):
    payment = PaymentFactory()

    with caplog.at_level(logging.INFO), failing_inserts("revenue_ledgertransaction"):
        post_webhook(client, payment_body(payment))

    [line] = _webhook_lines(caplog)
    assert (line["outcome"], line["http"]) == ("error: processing failed; will retry", "500")
    assert any("processing failed: ProgrammingError" in r.getMessage() for r in caplog.records)
    _assert_no_customer_data(caplog)
