"""The channels, in one visible table: which exist, which are configured, and the outbox key prefix of
each channel whose replies the pipeline pushes through the outbox.

A channel whose credentials are absent is simply off; the web chat is always on. The console (`xaso
chat`) is not here: it is not served over HTTP and answers on the terminal.
"""

from __future__ import annotations

from bots.channels.base import Channel, ChannelKit
from bots.telegram.channel import RequestFactory, TelegramChannel
from bots.webchat import WebChat
from bots.zalo.bot_channel import BotChannel
from bots.zalo.oa_channel import OAChannel

CHANNEL_TYPES: tuple[type[Channel], ...] = (WebChat, TelegramChannel, OAChannel, BotChannel)


def pushed_reply_prefixes() -> dict[str, str]:
    """Channel name → outbox key prefix, for the channels whose replies go through the outbox."""
    return {kind.name: kind.outbox_prefix for kind in CHANNEL_TYPES if kind.outbox_prefix is not None}


def configured_channels(kit: ChannelKit, *, telegram_request: RequestFactory | None = None) -> list[Channel]:
    """The channels to serve, built (nothing is reached before `start`). `telegram_request` makes the
    HTTP client python-telegram-bot uses (tests pass a loopback-only one)."""
    settings = kit.settings
    found: list[Channel] = [WebChat(kit.settings, kit.handle, database=kit.database, catalogue=kit.catalogue,
                                    hasher=kit.hasher, cipher=kit.cipher)]
    if settings.telegram_token is not None:  # POST /telegram/webhook, or polling
        found.append(TelegramChannel(kit.settings, kit.handle, database=kit.database, outbox=kit.outbox,
                                     catalogue=kit.catalogue, hasher=kit.hasher, cipher=kit.cipher,
                                     metrics=kit.metrics, request=telegram_request))
    if settings.zalo_app_id and settings.zalo_oa_secret is not None:  # Zalo OA: POST /zalo/webhook
        found.append(OAChannel(kit.settings, kit.handle, database=kit.database, outbox=kit.outbox,
                               catalogue=kit.catalogue, hasher=kit.hasher, cipher=kit.cipher,
                               audit=kit.audit, metrics=kit.metrics))
    if settings.zalo_bot_token is not None:  # Zalo Bot API: POST /zalo/bot/webhook, or polling
        found.append(BotChannel(kit.settings, kit.handle, database=kit.database, outbox=kit.outbox,
                                catalogue=kit.catalogue, hasher=kit.hasher, metrics=kit.metrics))
    return found
