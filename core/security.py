"""Webhook verification (SECURITY.md, "Webhooks in"). Every check is constant-time and fails closed."""

from __future__ import annotations

import hmac
import re

# What Telegram accepts as `secret_token` in setWebhook.
TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def valid_telegram_secret(secret: str) -> bool:
    return TELEGRAM_SECRET.fullmatch(secret) is not None


def verify_telegram_secret(header_value: str | None, expected: str | None) -> bool:
    """True when the `X-Telegram-Bot-Api-Secret-Token` header equals the secret given to setWebhook.
    A missing or empty header, or no configured secret, is never a match."""
    if not header_value or not expected:
        return False
    return hmac.compare_digest(header_value.encode(), expected.encode())
