"""Webhook verification (SECURITY.md, "Webhooks in"). Every check is constant-time and fails closed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime

# What Telegram accepts as `secret_token` in setWebhook.
TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def valid_telegram_secret(secret: str) -> bool:
    return TELEGRAM_SECRET.fullmatch(secret) is not None


def verify_telegram_secret(header_value: str | None, expected: str | None) -> bool:
    """True when the `X-Telegram-Bot-Api-Secret-Token` header equals the secret given to setWebhook.
    A missing or empty header, or no configured secret, is never a match."""
    if not header_value or not expected:
        return False
    # `surrogatepass`: raw bytes 0x80–0xFF in the header arrive as lone surrogates; they match nothing.
    return hmac.compare_digest(header_value.encode("utf-8", "surrogatepass"), expected.encode())


# Standard Webhooks 1.0 (https://www.standardwebhooks.com): other systems, in and out.
WEBHOOK_TOLERANCE_SECONDS = 300
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
_WEBHOOK_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_WEBHOOK_ID_MAX = 256
_WEBHOOK_SIGNATURES_MAX = 16


def webhook_secret_bytes(secret: str) -> bytes:
    """The HMAC key of a `whsec_…` secret (the prefix is optional); ValueError when not base64."""
    encoded = secret.removeprefix(WEBHOOK_SECRET_PREFIX)
    key = base64.b64decode(encoded.encode("ascii"), validate=True)
    if not key:
        raise ValueError("empty webhook secret")
    return key


def _webhook_signature(msg_id: str, timestamp: str, body: bytes, key: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def sign_standard_webhook(msg_id: str, timestamp: int, body: bytes, secret: str) -> dict[str, str]:
    """The three headers of a signed delivery (`timestamp` in Unix seconds, the time of this attempt)."""
    stamp = str(int(timestamp))
    signature = _webhook_signature(msg_id, stamp, body, webhook_secret_bytes(secret))
    return {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": f"v1,{signature}"}


def verify_standard_webhook(headers: Mapping[str, str], body: bytes, secret: str,
                            now: float | datetime) -> bool:
    """True when one of the `v1,` signatures matches and the timestamp is within 300 s of `now`
    either way. Fails closed and never raises, whatever the headers, body or secret hold."""
    try:
        return _verify_standard_webhook(headers, body, secret, now)
    except Exception:
        return False


def _verify_standard_webhook(headers: Mapping[str, str], body: bytes, secret: str,
                             now: float | datetime) -> bool:
    found = {str(name).lower(): value for name, value in headers.items()}
    msg_id, stamp, signatures = (found.get("webhook-id"), found.get("webhook-timestamp"),
                                 found.get("webhook-signature"))
    if not (isinstance(msg_id, str) and isinstance(stamp, str) and isinstance(signatures, str)):
        return False
    if not 0 < len(msg_id) <= _WEBHOOK_ID_MAX or not _WEBHOOK_TIMESTAMP.fullmatch(stamp):
        return False
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if not abs(current - int(stamp)) <= WEBHOOK_TOLERANCE_SECONDS:  # written so that NaN fails
        return False
    expected = f"v1,{_webhook_signature(msg_id, stamp, bytes(body), webhook_secret_bytes(secret))}".encode()
    matched = False
    for candidate in signatures.split(" ")[:_WEBHOOK_SIGNATURES_MAX]:
        # Compared as text, not decoded bytes: base64 has spellings that decode alike.
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "surrogatepass"))
    return matched


# Stripe webhooks (https://docs.stripe.com/webhooks#verify-manually): `Stripe-Signature: t=…,v1=…`.
STRIPE_TOLERANCE_SECONDS = 300
_STRIPE_HEADER_MAX = 4096
_STRIPE_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def _stripe_signature(timestamp: str, body: bytes, secret: str) -> str:
    # Stripe keys the HMAC with the whole `whsec_…` string, as text (not base64-decoded).
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                    hashlib.sha256).hexdigest()


def sign_stripe_payload(body: bytes, secret: str, timestamp: int) -> str:
    """A `Stripe-Signature` header value, as Stripe (or localstripe) sends it."""
    stamp = str(int(timestamp))
    return f"t={stamp},v1={_stripe_signature(stamp, body, secret)}"


def verify_stripe_signature(header_value: str | None, body: bytes, secret: str | None,
                            now: float | datetime) -> bool:
    """True when one of the header's `v1` signatures is the HMAC-SHA256 of `"{t}.{body}"` under the
    endpoint secret (several `v1` during a secret rotation) and `t` is within 300 s of `now` either
    way. Other schemes (`v0`) are ignored. Fails closed and never raises."""
    try:
        return _verify_stripe_signature(header_value, body, secret, now)
    except Exception:
        return False


def _verify_stripe_signature(header_value: str | None, body: bytes, secret: str | None,
                             now: float | datetime) -> bool:
    if not header_value or not secret or len(header_value) > _STRIPE_HEADER_MAX:
        return False
    stamps: list[str] = []
    candidates: list[str] = []
    for item in header_value.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            stamps.append(value)
        elif key == "v1":
            candidates.append(value)
    if len(stamps) != 1 or not _WEBHOOK_TIMESTAMP.fullmatch(stamps[0]) or not candidates:
        return False
    current = now.timestamp() if isinstance(now, datetime) else float(now)
    if not abs(current - int(stamps[0])) <= STRIPE_TOLERANCE_SECONDS:  # written so that NaN fails
        return False
    expected = _stripe_signature(stamps[0], bytes(body), secret).encode("ascii")
    matched = False
    for candidate in candidates[:_WEBHOOK_SIGNATURES_MAX]:
        # Lower-case hex only: an upper-case spelling is not what Stripe sends, so it is not a match.
        well_formed = _STRIPE_HEX_SIGNATURE.fullmatch(candidate) is not None
        matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "surrogatepass")) and well_formed
    return matched


# Zalo Official Account: `X-ZEvent-Signature` is `mac=` + hex sha256(app_id + body + timestamp + OA secret),
# a plain hash over the concatenation (not an HMAC), the timestamp (ms) being the body's own field.
ZALO_MAX_AGE_SECONDS = 24 * 3600
ZALO_MAX_SKEW_SECONDS = 300
_ZALO_SIGNATURE = re.compile(r"(?:mac=)?([0-9a-fA-F]{64})")
_ZALO_TIMESTAMP = re.compile(r"[0-9]{1,20}")


def zalo_signature(app_id: str, body: bytes, timestamp: str, oa_secret: str) -> str:
    return hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret.encode()).hexdigest()


def verify_zalo_signature(header_value: str | None, app_id: str | None, body: bytes, timestamp: str | None,
                          oa_secret: str | None) -> bool:
    """True when the header (with or without `mac=`) is the event's signature. Fails closed and never
    raises: a missing header, app id, timestamp or secret is never a match, nor is a timestamp that is not
    ASCII digits (as Zalo sends it)."""
    if not header_value or not app_id or not timestamp or not oa_secret:
        return False
    found = _ZALO_SIGNATURE.fullmatch(header_value.strip())
    if found is None or _ZALO_TIMESTAMP.fullmatch(timestamp) is None:
        return False
    expected = zalo_signature(app_id, bytes(body), timestamp, oa_secret)
    return hmac.compare_digest(expected.encode(), found.group(1).lower().encode())


def zalo_timestamp_fresh(timestamp_ms: str | int | None, now: float) -> bool:
    """Zalo retries an event for about an hour with its first timestamp: an event older than 24 h, or more
    than 5 minutes in the future, is refused."""
    try:
        seconds = int(str(timestamp_ms)) / 1000.0
    except (TypeError, ValueError):
        return False
    return now - ZALO_MAX_AGE_SECONDS <= seconds <= now + ZALO_MAX_SKEW_SECONDS
