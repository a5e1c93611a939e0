"""The providers an installation offers, from its settings and commune.yml: cash on delivery always,
VietQR when the commune's bank account is configured, Stripe when its API key is set."""

from __future__ import annotations

import logging

from backends.payments.base import CashOnDelivery, PaymentProvider, Payments
from backends.payments.stripe import StripePayments
from backends.payments.vietqr import BankAccount, VietQRPayments
from core.commune import Commune
from core.config import Settings
from core.crypto import Hasher

log = logging.getLogger(__name__)


def configured_payments(settings: Settings, commune: Commune, hasher: Hasher) -> Payments:
    providers: list[PaymentProvider] = []
    account = BankAccount.from_commune(commune)
    if account is not None:
        providers.append(VietQRPayments(account))
    if settings.stripe_api_key is not None:
        if not settings.stripe_publishable_key:
            log.error("XASO_STRIPE_API_KEY is set but XASO_STRIPE_PUBLISHABLE_KEY is not: the payment "
                      "page cannot load Stripe.js, so card payments are not offered")
        else:
            if settings.stripe_webhook_secret is None:
                log.warning("XASO_STRIPE_WEBHOOK_SECRET is not set: Stripe's events are refused and "
                            "card payments are never marked paid")
            providers.append(StripePayments(
                settings.stripe_api_key.get_secret_value(), publishable_key=settings.stripe_publishable_key,
                hasher=hasher, public_url=settings.public_url, api_base=settings.stripe_api_base,
                js_url=settings.stripe_js_url))
    providers.append(CashOnDelivery())
    return Payments(providers)
