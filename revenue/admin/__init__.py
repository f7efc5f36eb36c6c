"""The revenue back-office, one module per subject; every admin is read-only (core.admin_base)."""

from . import approvals, deposits, fees, ledger, payouts, runs

__all__ = ["approvals", "deposits", "fees", "ledger", "payouts", "runs"]
