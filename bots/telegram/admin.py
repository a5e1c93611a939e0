"""`xaso telegram set-webhook | info`: registering our webhook with Telegram and looking at it."""

from __future__ import annotations

import json
from typing import TextIO

from bots.telegram.channel import ALLOWED_UPDATES, WEBHOOK_PATH, RequestFactory, build_application
from core.config import Settings
from core.security import valid_telegram_secret


class SetupError(Exception):
    """A configuration problem, worded for the operator."""


def _check(settings: Settings) -> None:
    if settings.telegram_token is None:
        raise SetupError("XASO_TELEGRAM_TOKEN is not set (the token BotFather gave you)")


async def set_webhook(settings: Settings, out: TextIO, request: RequestFactory | None = None) -> None:
    _check(settings)
    secret = settings.telegram_webhook_secret
    if secret is None or not valid_telegram_secret(secret.get_secret_value()):
        raise SetupError("XASO_TELEGRAM_WEBHOOK_SECRET must be 1 to 256 characters of A-Z a-z 0-9 _ -")
    if not settings.public_url.startswith("https://"):
        out.write(f"warning: Telegram only delivers to https addresses, not {settings.public_url}\n")
    url = settings.public_url.rstrip("/") + WEBHOOK_PATH
    async with build_application(settings, request).bot as bot:
        await bot.set_webhook(url, secret_token=secret.get_secret_value(),
                              allowed_updates=list(ALLOWED_UPDATES))
    out.write(f"webhook set: {url} (updates: {', '.join(ALLOWED_UPDATES)})\n")


async def webhook_info(settings: Settings, out: TextIO, request: RequestFactory | None = None) -> None:
    _check(settings)
    async with build_application(settings, request).bot as bot:
        info = await bot.get_webhook_info()
        me = bot.username
    shown = {"bot": f"@{me}", "url": info.url or None, "pending_update_count": info.pending_update_count,
             "allowed_updates": list(info.allowed_updates or ()) or None,
             "last_error_message": info.last_error_message,
             "last_error_date": info.last_error_date.isoformat() if info.last_error_date else None}
    out.write(json.dumps(shown, ensure_ascii=False, indent=2) + "\n")
