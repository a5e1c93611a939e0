"""The Zalo channels: the Official Account (OA API v3) and the newer Zalo Bot API.

- `models`: the tables (the `zalo_inbox` table of the durable inbox, tokens, buttons sent,
  Zalo-verified addresses);
- `receiver`: what both modes share: events stored before the 200 and drained in order, one chat at a
  time (the shared inbox of bots/channels/), downloads, each event handed to the pipeline;
- `oa_parse` / `bot_parse`: one event → one `Incoming`;
- `buttons`: buttons sent to a user, so that the text a button sends back is routed as its press;
- `render`: text split to 2,000 characters, buttons as a numbered list where they cannot be buttons;
- `tokens`: the OA access token, refreshed through OAuth v4 with a compare-and-set on the refresh token;
- `oa_api` / `bot_api`: the HTTP clients; `oa_sender` / `bot_sender`: the outbox's `ChannelSender`s;
- `oa_channel` / `bot_channel`: webhooks (`POST /zalo/webhook`, `POST /zalo/bot/webhook`) and polling;
- `admin`: `xaso zalo token | set-webhook | info`.
"""

OA_CHANNEL = "zalo"
BOT_CHANNEL = "zalobot"

__all__ = ["BOT_CHANNEL", "OA_CHANNEL"]
