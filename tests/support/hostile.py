"""The whole app with every channel and webhook on (Telegram, Zalo OA, Zalo Bot, Stripe, `/hooks/onestop`),
for the tests of hostile input: what each source needs to sign or authenticate a delivery, and the
helpers to read the rejection counter and to find tracebacks in the log."""

from __future__ import annotations

import json
import logging
import math
import re
import time
from typing import Any

import pytest
from pydantic import SecretStr

from core.config import Settings
from core.security import sign_standard_webhook, sign_stripe_payload, zalo_signature

TELEGRAM_TOKEN = "123456:HOSTILE-token_for-tests"
TELEGRAM_SECRET = "hostile-telegram-secret"
ZALO_APP_ID = "1234567890123456789"
ZALO_OA_SECRET = "hostile-oa-secret-key"
ZALO_BOT_TOKEN = "3120745:hostile-zalo-bot-token"
ZALO_BOT_SECRET = "hostile-zalo-bot-secret"
STRIPE_SECRET = "whsec_hostile-stripe-secret"
HOOK_SECRET = "whsec_aG9zdGlsZS1ob29rLXNlY3JldC1rZXk="  # base64 of "hostile-hook-secret-key"
ZALO_USER = "2512523625412515"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, nothing is ever reached


def all_channels(settings: Settings, **overrides: Any) -> Settings:
    """Every channel and webhook on, their platforms pointed at a port where nothing answers (a webhook
    stores what it receives whether or not the platform is reachable)."""
    values: dict[str, Any] = {
        "telegram_token": SecretStr(TELEGRAM_TOKEN), "telegram_webhook_secret": SecretStr(TELEGRAM_SECRET),
        "telegram_api_base": f"{UNREACHABLE}/bot",
        "zalo_app_id": ZALO_APP_ID, "zalo_oa_secret": SecretStr(ZALO_OA_SECRET),
        "zalo_api_base": UNREACHABLE, "zalo_oauth_base": UNREACHABLE,
        "zalo_bot_token": SecretStr(ZALO_BOT_TOKEN), "zalo_bot_webhook_secret": SecretStr(ZALO_BOT_SECRET),
        "zalo_bot_api_base": UNREACHABLE, "zalo_bot_mode": "webhook",
        "stripe_webhook_secret": SecretStr(STRIPE_SECRET),
        "hook_secrets": {"onestop": SecretStr(HOOK_SECRET)},
        "telegram_per_chat_rate": math.inf, "telegram_global_rate": math.inf,
        "zalo_per_chat_rate": math.inf, "zalo_global_rate": math.inf,
        "rate_limit_burst": 10_000, "rate_limit_per_minute": 60_000,
        "web_sessions_burst": 10_000, "web_sessions_per_minute": 60_000,
    }
    return settings.model_copy(update=values | overrides)


def zalo_oa_headers(body: bytes, timestamp: str) -> dict[str, str]:
    return {"X-ZEvent-Signature": "mac=" + zalo_signature(ZALO_APP_ID, body, timestamp, ZALO_OA_SECRET),
            "Content-Type": "application/json"}


def zalo_text_event(text: str, msg_id: str, timestamp: str | None = None) -> dict[str, Any]:
    return {"app_id": ZALO_APP_ID, "user_id_by_app": "1", "event_name": "user_send_text",
            "sender": {"id": ZALO_USER}, "recipient": {"id": "579745863508352884"},
            "message": {"text": text, "msg_id": msg_id},
            "timestamp": timestamp or str(int(time.time() * 1000))}


def zalo_bot_update(text: str, message_id: str, chat_id: str = "b1c2d3e4") -> dict[str, Any]:
    return {"ok": True, "result": {"event_name": "message.text.received", "message": {
        "from": {"id": chat_id, "display_name": "Bình", "is_bot": False},
        "chat": {"id": chat_id, "chat_type": "PRIVATE"}, "text": text, "message_id": message_id,
        "date": int(time.time() * 1000)}}}


def stripe_headers(body: bytes) -> dict[str, str]:
    return {"Stripe-Signature": sign_stripe_payload(body, STRIPE_SECRET, int(time.time())),
            "Content-Type": "application/json"}


def hook_headers(body: bytes, webhook_id: str) -> dict[str, str]:
    return {**sign_standard_webhook(webhook_id, int(time.time()), body, HOOK_SECRET),
            "Content-Type": "application/json"}


def dumps(value: Any) -> bytes:
    """JSON as a client may send it: `\\ud800` stays an escape (valid JSON, not valid UTF-8 once decoded)."""
    return json.dumps(value).encode()


def rejections(metrics_text: str, source: str, reason: str) -> float:
    labels = f'reason="{reason}",source="{source}"'
    pattern = r"xaso_webhook_rejections_total\{" + re.escape(labels) + r"\} ([0-9.e+]+)"
    found = re.search(pattern, metrics_text)
    return float(found.group(1)) if found else 0.0


def tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The records logged with a traceback, and any at ERROR or above: there must be none."""
    return [f"{record.name}: {record.getMessage()}" for record in caplog.records
            if record.exc_info or record.levelno >= logging.ERROR]
