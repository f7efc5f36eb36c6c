"""core.errors.BlinnoError: a refusal with a message for people and a stable code for programs."""

import pytest

from core.errors import BlinnoError
from revenue.payouts import PayoutError


def test_it_keeps_its_message_for_people():
    error = BlinnoError("Order #7 is Paid; it takes no payment.")
    assert (error.message, str(error)) == ("Order #7 is Paid; it takes no payment.",) * 2


def test_its_code_is_error_unless_told_otherwise():
    assert BlinnoError("no").code == "error"
    assert BlinnoError("no", code="order_closed").code == "order_closed"


def test_a_subclass_brings_its_own_code_and_an_instance_may_narrow_it():
    assert PayoutError("no").code == "payout_refused"
    assert PayoutError("no", code="already_reconciled").code == "already_reconciled"
    assert PayoutError("again").code == "payout_refused"  # the class default is untouched


def test_it_is_raised_and_caught_as_an_exception():
    with pytest.raises(BlinnoError, match="Available balance"):
        raise PayoutError("Available balance TZS 0.00 is below the payout minimum.")
