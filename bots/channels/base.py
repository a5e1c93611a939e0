"""The one shape of a channel, and what the server gives it.

A channel turns platform events into `Incoming` and hands each to a `Handler` (the assistant's `handle`:
the policy pipeline, then the dialogue), and renders `Reply` objects back through its outbox `sender`.
It is given only what it uses (settings, database, outbox, catalogue, metrics…: `ChannelKit`), never the
assistant itself, and it never imports another channel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

from aiohttp import web

from core.audit import AuditLog
from core.config import Settings
from core.crypto import FieldCipher, Hasher
from core.db import Database
from core.i18n import Catalogue
from core.messages import Incoming
from core.metrics import Metrics
from core.outbox import ChannelSender, Outbox
from core.pipeline import Outcome

Handler = Callable[[Incoming], Awaitable[Outcome]]


class Channel(Protocol):
    """A chat app the assistant is reached through.

    `name` is the channel's name in `Incoming`, users and the outbox. `outbox_prefix` starts the outbox
    key of the replies the pipeline pushes for it (`{prefix}:{message_id}:{n}`); None for a channel that
    answers in its own response (the web chat) and only gets later notices through the outbox. `sender`
    delivers the outbox's rows for `name` (None when the channel has nothing to deliver)."""

    name: ClassVar[str]
    outbox_prefix: ClassVar[str | None]

    @property
    def sender(self) -> ChannelSender | None: ...

    def routes(self) -> list[web.AbstractRouteDef]:
        """Its HTTP routes (webhooks, pages), added to the app whether or not it has started."""
        ...

    async def start(self) -> None:
        """Returns at once: reaching the platform is retried in the background."""
        ...

    async def stop_receiving(self) -> None:
        """Stops taking events and finishes the ones in hand; sending keeps working until `close`."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ChannelKit:
    """What the server has for channels; each channel's constructor takes the part it uses."""

    settings: Settings
    database: Database
    handle: Handler
    outbox: Outbox
    catalogue: Catalogue
    hasher: Hasher
    cipher: FieldCipher
    audit: AuditLog
    metrics: Metrics
