"""`xaso zalo token [--refresh | --import]` and `xaso zalo set-webhook | info` (the Bot API webhook)."""

from __future__ import annotations

import json
from typing import TextIO

import aiohttp

from bots.zalo.bot_api import BotClient
from bots.zalo.bot_channel import WEBHOOK_PATH
from bots.zalo.tokens import TokenError, TokenStore, describe
from core.config import Settings
from core.crypto import FieldCipher
from core.db import Database

MIN_SECRET, MAX_SECRET = 8, 256


class SetupError(Exception):
    """A configuration problem, worded for the operator."""


async def token(settings: Settings, database: Database, out: TextIO, *, refresh: bool = False,
                import_env: bool = False, http: aiohttp.ClientSession | None = None) -> None:
    if not settings.zalo_app_id:
        raise SetupError("XASO_ZALO_APP_ID is not set (the app id from developers.zalo.me)")
    own = http is None
    session = http or aiohttp.ClientSession(trust_env=False)
    try:
        store = TokenStore(database, FieldCipher(settings.secret()), settings, session)
        await store.seed()
        state = await store.import_from_settings() if import_env else await store.state()
        if refresh:
            state = await store.refresh(state.version)
            out.write("refreshed\n")
        out.write(json.dumps(describe(state), ensure_ascii=False, indent=2) + "\n")
    except TokenError as problem:
        raise SetupError(str(problem)) from None
    finally:
        if own:
            await session.close()


def _bot(settings: Settings, http: aiohttp.ClientSession) -> BotClient:
    if settings.zalo_bot_token is None:
        raise SetupError("XASO_ZALO_BOT_TOKEN is not set (the token from the Zalo Bot Creator)")
    return BotClient(http, settings.zalo_bot_api_base, settings.zalo_bot_token.get_secret_value())


async def set_webhook(settings: Settings, out: TextIO, http: aiohttp.ClientSession | None = None) -> None:
    secret = settings.zalo_bot_webhook_secret
    if secret is None or not MIN_SECRET <= len(secret.get_secret_value()) <= MAX_SECRET:
        raise SetupError("XASO_ZALO_BOT_WEBHOOK_SECRET must be 8 to 256 characters")
    if not settings.public_url.startswith("https://"):
        raise SetupError(f"Zalo only delivers to https addresses, not {settings.public_url}; "
                         "without one, `xaso serve` polls with getUpdates instead")
    url = settings.public_url.rstrip("/") + WEBHOOK_PATH
    own = http is None
    session = http or aiohttp.ClientSession(trust_env=False)
    try:
        await _bot(settings, session).call("setWebhook",
                                           {"url": url, "secret_token": secret.get_secret_value()})
    finally:
        if own:
            await session.close()
    out.write(f"webhook set: {url}\n")


async def webhook_info(settings: Settings, out: TextIO, http: aiohttp.ClientSession | None = None) -> None:
    own = http is None
    session = http or aiohttp.ClientSession(trust_env=False)
    try:
        bot = _bot(settings, session)
        me = await bot.call("getMe")
        info = await bot.call("getWebhookInfo")
    finally:
        if own:
            await session.close()
    out.write(json.dumps({"bot": me, "webhook": info}, ensure_ascii=False, indent=2) + "\n")
