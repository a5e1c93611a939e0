"""Payments behind one protocol (Stripe, VietQR bank transfer, cash on delivery) and one ledger.

Every provider starts a payment for an order; the ledger (ledger.py) records it and settles it
exactly once, whoever reports it (a Stripe webhook, a staff member confirming a transfer, a seller
collecting cash), and tells the listeners (the order flow) inside the same transaction.
"""

from backends.shop.payments.base import (
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
]
