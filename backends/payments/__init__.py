"""Payments behind one protocol (Stripe, VietQR bank transfer, cash on delivery) and one ledger.

Every provider starts a payment for an order of any kind, named by its code (a shop order `DH-…`, a
homestay booking's deposit `DP-…`); the ledger (ledger.py) records it and settles it
exactly once, whoever reports it (a Stripe webhook, a staff member confirming a transfer, a seller
collecting cash), and tells the listeners of that kind of order inside the same transaction.
"""

from backends.payments.base import (
    CashOnDelivery,
    FailedEvent,
    FailedListener,
    PaidEvent,
    PaidListener,
    PaymentError,
    PaymentProvider,
    PaymentRequest,
    Payments,
    PaymentStart,
    Transfer,
    format_vnd,
)

__all__ = [
    "CashOnDelivery",
    "FailedEvent",
    "FailedListener",
    "PaidEvent",
    "PaidListener",
    "PaymentError",
    "PaymentProvider",
    "PaymentRequest",
    "PaymentStart",
    "Payments",
    "Transfer",
    "format_vnd",
]
