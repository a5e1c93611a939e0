"""One turn of a channel whose answers go through the outbox (Telegram, both Zalo modes).

The pipeline puts a turn's replies in the outbox in the turn's own transaction (`EnqueueReplies`). What
it cannot put there is pushed here: the apology of a failed turn (its transaction rolled back, replies
included) and refusals made before the pipeline (a file over the upload limit). Either way the
channel's sender is woken.
"""

from __future__ import annotations

from bots.channels.base import Handler
from core.db import Database
from core.i18n import Catalogue
from core.messages import Incoming, Reply
from core.outbox import Outbox
from core.pipeline import Outcome


class Turns:
    def __init__(self, channel: str, prefix: str, handle: Handler, *, database: Database, outbox: Outbox,
                 catalogue: Catalogue) -> None:
        self.channel = channel
        self.prefix = prefix
        self._handle = handle
        self.database = database
        self.outbox = outbox
        self.catalogue = catalogue

    async def run(self, incoming: Incoming) -> Outcome:
        outcome = await self._handle(incoming)
        if outcome.status == "error":
            await self.push(incoming, outcome.replies, "e")
        await self.outbox.wake(self.channel)
        return outcome

    async def push(self, incoming: Incoming, replies: tuple[Reply, ...], tag: str) -> None:
        """Replies for this message outside the pipeline, keyed `{prefix}:{message_id}:{tag}{n}`."""
        async with self.database.session() as session:
            for number, reply in enumerate(replies):
                key = f"{self.prefix}:{incoming.message_id}:{tag}{number}"
                await self.outbox.enqueue(session, channel=self.channel, chat_id=incoming.chat_id,
                                          reply=reply, key=key)

    async def refuse_too_large(self, incoming: Incoming, language: str = "vi") -> None:
        """Answered here, without the pipeline: there is nothing to hand it."""
        await self.push(incoming, (Reply(self.catalogue.t("upload.too_large", language)),), "big")
        await self.outbox.wake(self.channel)
