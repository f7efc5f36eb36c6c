"""The revenue back-office, one module per subject; every admin is read-only (core.admin_base)."""

from . import deposits, fees, ledger, payouts

__all__ = ["deposits", "fees", "ledger", "payouts"]
