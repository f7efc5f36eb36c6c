"""How staff pages show account and wallet numbers: masked to their last four characters."""

from __future__ import annotations

from typing import Any

ACCOUNT_NUMBER_KEYS = frozenset({"accountNumber", "beneficiaryMobileNumber", "account_number"})
"""Keys that hold a payout destination's number, in ClickPesa's bodies and in our snapshots."""


def mask_account_number(number: object) -> str:
    """An account or wallet number as staff pages show it: its last four characters ("****0111")."""
    return f"****{str(number or '')[-4:]}"


def mask_account_numbers(value: Any) -> Any:
    """A copy of a JSON value with every account number (at any depth) masked."""
    if isinstance(value, dict):
        return {
            key: mask_account_number(item) if key in ACCOUNT_NUMBER_KEYS and item else mask_account_numbers(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_account_numbers(item) for item in value]
    return value
