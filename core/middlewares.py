"""The pipeline's steps. Each is small, takes what it needs in its constructor, and is tested alone."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import upsert
from core.i18n import Catalogue
from core.identity import IdentityCache, find_user, resolve_user
from core.links import LinkVerdict
from core.messages import Button, Reply
from core.models import ProcessedMessage
from core.pipeline import Handler, Outcome, Turn
from core.ratelimit import KeyedLimiter
from core.roles import AccessRules


class LinkChecker(Protocol):
    def check(self, text: str) -> LinkVerdict: ...


class Deduplicate:
    """Drops a platform message already handled (webhook retries, double taps). The id is recorded in
    the message's own transaction: if handling fails, the retry is processed again."""

    async def __call__(self, turn: Turn, handler: Handler) -> Outcome:
        message_id = turn.incoming.message_id
        if not message_id:
            return await handler(turn)
        dialect = turn.session.get_bind().dialect.name
        insert = upsert(dialect)
        statement = insert(ProcessedMessage).values(
            channel=turn.incoming.channel, message_id=message_id[:128]
        ).on_conflict_do_nothing()
        result = cast(CursorResult[Any], await turn.session.execute(statement))
        if result.rowcount == 0:
            return Outcome((), "duplicate")
        return await handler(turn)


class RateLimit:
    """A token bucket per user and per chat: a flood from one user never slows the others."""

    def __init__(self, catalogue: Catalogue, per_minute: int, burst: int,
                 clock: Callable[[], float] | None = None) -> None:
        rate = per_minute / 60.0
        if clock is None:
            self.users, self.chats = KeyedLimiter(rate, burst), KeyedLimiter(rate * 3, burst * 3)
        else:
            self.users = KeyedLimiter(rate, burst, clock=clock)
            self.chats = KeyedLimiter(rate * 3, burst * 3, clock=clock)
        self.catalogue = catalogue

    async def __call__(self, turn: Turn, handler: Handler) -> Outcome:
        incoming = turn.incoming
        user_ok = self.users.allow(f"{incoming.channel}:{incoming.user_id}")
        chat_ok = self.chats.allow(f"{incoming.channel}:{incoming.chat_id}")
        if not (user_ok and chat_ok):
            return Outcome((Reply(self.catalogue.t("limit.rate", turn.language)),), "rate_limited")
        return await handler(turn)


class IdentifyAndAuthorize:
    """Finds (or creates) the user, then checks the role any staff command or button needs, by the
    access rules the services declared (core/roles.py).
    Every staff decision, allow or deny, is audited.

    Users of `registered_only` channels (the web chat) exist only through their session: a message
    from one that is gone (deleted with /mydata) is refused rather than silently re-creating it."""

    def __init__(self, catalogue: Catalogue, access: AccessRules,
                 registered_only: frozenset[str] = frozenset(), identities: IdentityCache | None = None,
                 commune: str | None = None) -> None:
        self.catalogue = catalogue
        self.access = access
        self.registered_only = registered_only
        self.identities = identities
        self.commune = commune  # new users belong to it (None: they choose, core/province.py)

    async def __call__(self, turn: Turn, handler: Handler) -> Outcome:
        incoming = turn.incoming
        if incoming.channel in self.registered_only:
            turn.identity = await find_user(turn.session, incoming.channel, incoming.user_id,
                                            self.identities)
            if turn.identity is None:
                return Outcome((Reply(self.catalogue.t("web.unauthorized", turn.language)),), "unknown_user")
        else:
            turn.identity = await resolve_user(turn.session, incoming.channel, incoming.user_id,
                                               incoming.language, incoming.display_name, self.identities,
                                               commune=self.commune)
        requirement = self.access.requirement_for(incoming.text, incoming.button)
        if requirement is None:
            return await handler(turn)
        allowed = turn.identity.has_any(requirement.roles)
        turn.audit(f"user:{turn.identity.id}", "authorize", subject=requirement.action,
                   outcome="allow" if allowed else "deny")
        if not allowed:
            return Outcome((Reply(self.catalogue.t("role.denied", turn.language)),), "denied")
        return await handler(turn)


class InputLimits:
    """Caps text length and refuses messages carrying dangerous links (blocklist, look-alikes,
    shorteners, IP literals). The assistant never fetches a user's link itself."""

    def __init__(self, catalogue: Catalogue, links: LinkChecker, max_text_chars: int,
                 offers: Sequence[tuple[str, str]] = ()) -> None:
        self.catalogue = catalogue
        self.links = links
        self.max_text_chars = max_text_chars
        self.offers = tuple(offers)  # (label's i18n key, button data) under a refused link: a lesson

    async def __call__(self, turn: Turn, handler: Handler) -> Outcome:
        text = turn.incoming.text or ""
        if len(text) > self.max_text_chars:
            reply = self.catalogue.t("limit.too_long", turn.language, limit=self.max_text_chars)
            return Outcome((Reply(reply),), "too_long")
        if text and not self.links.check(text).allowed:
            buttons = tuple(Button(self.catalogue.t(label, turn.language), data)
                            for label, data in self.offers)
            return Outcome((Reply(self.catalogue.t("links.refused", turn.language), buttons),), "refused")
        return await handler(turn)


class AuditMessages:
    """One audit entry per message: who, which channel, what kind, and a digest — never the text."""

    async def __call__(self, turn: Turn, handler: Handler) -> Outcome:
        incoming = turn.incoming
        content = incoming.text or incoming.button or ""
        digest = hashlib.sha256(content.encode()).hexdigest()[:16]
        actor = f"user:{turn.identity.id}" if turn.identity else f"{incoming.channel}:?"
        turn.audit(actor, f"message.{incoming.kind}", subject=incoming.channel,
                   detail={"digest": digest, "length": len(content)})
        return await handler(turn)


class ReplyQueue(Protocol):
    async def enqueue(self, session: AsyncSession, *, channel: str, chat_id: str, reply: Reply, key: str,
                      user_id: int | None = None, asks: bool = True) -> bool: ...


class EnqueueReplies:
    """For channels whose answers are pushed rather than returned (Telegram), the replies of a message
    enter the outbox in the message's own transaction, keyed `{prefix}:{message_id}:{n}`: they commit
    with the state change and the de-duplication record, or not at all. Runs first in the chain.
    The replies of the turn's steps after the commit (core/pipeline.py) follow, numbered on, each in
    its step's own transaction."""

    def __init__(self, outbox: ReplyQueue, prefixes: Mapping[str, str]) -> None:
        self.outbox = outbox
        self.prefixes = dict(prefixes)

    async def __call__(self, turn: Turn, handler: Handler) -> Outcome:
        outcome = await handler(turn)
        incoming = turn.incoming
        prefix = self.prefixes.get(incoming.channel)
        if prefix is None or not incoming.message_id:
            return outcome
        user_id = turn.identity.id if turn.identity is not None else None
        numbers = itertools.count()

        async def enqueue(session: AsyncSession, replies: Sequence[Reply]) -> None:
            for reply in replies:
                await self.outbox.enqueue(session, channel=incoming.channel, chat_id=incoming.chat_id,
                                          reply=reply, key=f"{prefix}:{incoming.message_id}:{next(numbers)}",
                                          user_id=user_id, asks=False)  # the dialogue recorded its question

        await enqueue(turn.session, outcome.replies)
        turn.deliver_late = enqueue  # for the replies of its steps after the commit (core/pipeline.py)
        return outcome
