"""The Telegram channel: python-telegram-bot's `Application` held behind our aiohttp server.

- `parse`: an `Update` → one `Incoming` (or nothing, for what the bot must ignore);
- `callbacks`: button data signed (or stored) to fit Telegram's 64 bytes and refuse forgeries;
- `render`: a `Reply` → Bot API calls (text split, keyboards, media from our own store);
- `sender`: the outbox's `ChannelSender`, mapping Bot API errors to retry decisions;
- `inbox`: the `telegram_inbox` table of the durable inbox (bots/channels/inbox.py);
- `channel`: lifecycle, `POST /telegram/webhook`, polling, and processing off the request path;
- `admin`: `xaso telegram set-webhook | info`.
"""

from bots.telegram.parse import CHANNEL

__all__ = ["CHANNEL"]
