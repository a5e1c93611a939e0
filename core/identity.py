"""Who is writing: users by (channel, platform id), their roles, and one-time invites."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import bindparam, delete, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.counters import Counter, next_number
from core.crypto import Hasher
from core.i18n import DEFAULT_LANGUAGE
from core.models import Invite, User, UserRole, utcnow

# Which roles exist is declared by the services (bots/dialogue/service.py `Role`); core only keeps
# names well formed. Everyone holds "citizen", which is never granted.
CITIZEN = "citizen"
_ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{1,31}")
INVITE_LIFETIME = timedelta(days=7)
SEEN_EVERY = timedelta(minutes=5)  # how stale `users.last_seen_at` may be
_EPOCH = "identities"  # the counter bumped whenever a user's roles or language change, or a user goes
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Identity:
    id: int
    channel: str
    external_id: str
    language: str
    roles: frozenset[str]  # those granted for `commune`, or for every commune
    commune: str | None = None  # the commune the user belongs to (core/province.py); None: not chosen

    def has_any(self, roles: frozenset[str] | set[str]) -> bool:
        return "admin" in self.roles or bool(self.roles & roles)


class IdentityCache:
    """Who is writing, remembered between their messages, so that a known user costs no query.

    Whatever changes an identity (a role granted or revoked, the language, the account erased) bumps
    one counter in its transaction (`identities_changed`) and empties every cache of this process at
    once; `watch` reads the counter every second and empties this cache when another node or a
    command moved it. An entry also lasts at most `lifetime` seconds."""

    def __init__(self, lifetime: float = 60.0, size: int = 20_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self.size = size
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[Identity, datetime, float]] = OrderedDict()
        self._epoch: int | None = None
        _CACHES.add(self)

    def get(self, channel: str, external_id: str) -> tuple[Identity, datetime] | None:
        entry = self._entries.get((channel, external_id))
        if entry is None:
            return None
        if entry[2] <= self._clock():
            del self._entries[(channel, external_id)]
            return None
        return entry[0], entry[1]

    def put(self, identity: Identity, last_seen_at: datetime) -> None:
        if identity.commune is None:
            # A province's newcomer is about to choose a commune, maybe through another node: the
            # choice must count at their next message, not when this node's watch next runs.
            return
        key = (identity.channel, identity.external_id)
        self._entries[key] = (identity, last_seen_at, self._clock() + self.lifetime)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    async def check_epoch(self, session: AsyncSession) -> None:
        epoch = (await session.execute(_EPOCH_VALUE)).scalar_one_or_none() or 0
        if epoch != self._epoch:
            self.clear()
            self._epoch = epoch

    async def watch(self, sessions: Callable[[], Any], stop: asyncio.Event, every: float = 1.0) -> None:
        """Until `stop`: empties the cache when another process changed an identity. `sessions`
        opens a unit of work (core.db.Database.session)."""
        while not stop.is_set():
            try:
                async with sessions() as session:
                    await self.check_epoch(session)
            except Exception as problem:  # the database away: the entries' lifetime still bounds them
                self.clear()
                log.warning("identity cache: cannot read the change counter (%s): emptied", problem)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)


_CACHES: weakref.WeakSet[IdentityCache] = weakref.WeakSet()
_EPOCH_VALUE = select(Counter.value).where(Counter.prefix == _EPOCH)


async def identities_changed(session: AsyncSession) -> None:
    """A user's roles, language or existence change in this transaction: every node forgets what it
    remembered (this process at once, the others within a second)."""
    await next_number(session, _EPOCH)
    for cache in list(_CACHES):
        cache.clear()


async def resolve_user(session: AsyncSession, channel: str, external_id: str,
                       language: str | None = None, display_name: str | None = None,
                       cache: IdentityCache | None = None, commune: str | None = None) -> Identity:
    """The user behind a platform id, created on first contact (in `commune` when known then)."""
    identity = await find_user(session, channel, external_id, cache)
    if identity is not None:
        return identity
    await _create(session, channel, external_id, language, display_name, commune)
    # Not remembered yet: the row exists only if this transaction commits.
    identity = await find_user(session, channel, external_id)
    assert identity is not None
    return identity


_FIND_USER = (select(User.id, User.language, User.last_seen_at, User.commune, UserRole.role,
                     UserRole.commune.label("role_commune"))
              .outerjoin(UserRole, UserRole.user_id == User.id)
              .where(User.channel == bindparam("channel"), User.external_id == bindparam("external_id")))
_SEEN = update(User).where(User.id == bindparam("user_id")).values(last_seen_at=bindparam("now"))


async def find_user(session: AsyncSession, channel: str, external_id: str,
                    cache: IdentityCache | None = None) -> Identity | None:
    """The user and their roles: from `cache` when it knows them, else in one round trip (this runs
    on every message)."""
    now = utcnow()
    cached = cache.get(channel, external_id) if cache is not None else None
    if cached is not None:
        identity, last_seen_at = cached
        if now - last_seen_at > SEEN_EVERY:
            await session.execute(_SEEN, {"user_id": identity.id, "now": now})
            cache.put(identity, now)  # type: ignore[union-attr]
        return identity
    rows = (await session.execute(_FIND_USER, {"channel": channel, "external_id": external_id})).all()
    if not rows:
        return None
    user_id, language, last_seen_at, commune = rows[0][:4]
    if now - last_seen_at > SEEN_EVERY:
        await session.execute(_SEEN, {"user_id": user_id, "now": now})
        last_seen_at = now
    # A role granted for one commune applies while the user is in it.
    roles = {CITIZEN, *(row.role for row in rows
                        if row.role is not None and row.role_commune in (None, commune))}
    identity = Identity(user_id, channel, external_id, language, frozenset(roles), commune)
    if cache is not None:
        cache.put(identity, last_seen_at)
    return identity


async def _create(session: AsyncSession, channel: str, external_id: str, language: str | None,
                  display_name: str | None, commune: str | None = None) -> None:
    user = User(channel=channel, external_id=external_id, display_name=display_name, commune=commune,
                language="en" if (language or "").startswith("en") else "vi")
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:  # created meanwhile by a concurrent request of the same user
        pass


async def set_language(session: AsyncSession, user_id: int, language: str) -> None:
    await session.execute(update(User).where(User.id == user_id).values(language=language))
    await identities_changed(session)


async def set_commune(session: AsyncSession, user_id: int, commune: str) -> None:
    """The user now belongs to `commune` (the roles granted for another one stop applying)."""
    await session.execute(update(User).where(User.id == user_id).values(commune=commune))
    await identities_changed(session)


async def language_of(session: AsyncSession, channel: str, external_id: str) -> str:
    """The language of the user behind a chat, for what is pushed to it; Vietnamese when unknown."""
    language = (await session.execute(select(User.language).where(
        User.channel == channel, User.external_id == external_id))).scalar_one_or_none()
    return language or DEFAULT_LANGUAGE


async def mark_unreachable(session: AsyncSession, channel: str, external_id: str) -> int | None:
    """The platform refuses to deliver to this user (blocked, not following): flag them; their id."""
    return (await session.execute(
        update(User).where(User.channel == channel, User.external_id == external_id)
        .values(unreachable=True).returning(User.id))).scalar_one_or_none()


def _check_role(role: str) -> None:
    if role == CITIZEN or not _ROLE_NAME.fullmatch(role):
        raise ValueError(f"not a role that can be granted: {role!r}")


async def grant_role(session: AsyncSession, user_id: int, role: str, granted_by: str,
                     commune: str | None = None) -> bool:
    """`role` for `commune`, or for every commune with None (a commune's own installation, or the
    province's staff); a role already held is kept where it was granted."""
    _check_role(role)
    existing = await session.get(UserRole, (user_id, role))
    if existing is not None:
        return False
    session.add(UserRole(user_id=user_id, role=role, granted_by=granted_by, commune=commune))
    await session.flush()
    await identities_changed(session)
    return True


async def revoke_roles(session: AsyncSession, user_id: int, role: str | None = None,
                       commune: str | None = None) -> int:
    """The user's roles (`role` alone when given; those granted for `commune` alone when given)."""
    query = delete(UserRole).where(UserRole.user_id == user_id)
    if role is not None:
        query = query.where(UserRole.role == role)
    if commune is not None:
        query = query.where(UserRole.commune == commune)
    result = cast(CursorResult[Any], await session.execute(query))
    if result.rowcount:
        await identities_changed(session)
    return result.rowcount or 0


async def role_holders(session: AsyncSession, *roles: str, exclude: int | None = None,
                       commune: str | None = None) -> dict[User, set[str]]:
    """The users holding any of `roles` (for `commune` when given: granted for it or for every
    commune), each with those of them it holds, in user id order. An administrator counts only where
    "admin" is named; `exclude` leaves one user out (who acted)."""
    query = (select(User, UserRole.role).join(UserRole, UserRole.user_id == User.id)
             .where(UserRole.role.in_(roles)).order_by(User.id, UserRole.role))
    if exclude is not None:
        query = query.where(User.id != exclude)
    if commune is not None:
        query = query.where(or_(UserRole.commune.is_(None), UserRole.commune == commune))
    found: dict[int, tuple[User, set[str]]] = {}
    for user, role in await session.execute(query):
        found.setdefault(user.id, (user, set()))[1].add(role)
    return dict(found.values())


async def users_with_role(session: AsyncSession, *roles: str, exclude: int | None = None,
                          commune: str | None = None) -> list[User]:
    """The users holding any of `roles`, once each, in user id order (see `role_holders`)."""
    return list(await role_holders(session, *roles, exclude=exclude, commune=commune))


async def create_invite(session: AsyncSession, hasher: Hasher, role: str, created_by: str,
                        lifetime: timedelta = INVITE_LIFETIME, commune: str | None = None) -> str:
    """A one-time code granting `role` for `commune` (None: every commune) to whoever redeems it."""
    _check_role(role)
    code = "-".join(secrets.token_hex(3).upper() for _ in range(3))
    session.add(Invite(code_hash=hasher.digest(code), role=role, created_by=created_by, commune=commune,
                       expires_at=utcnow() + lifetime))
    await session.flush()
    return code


@dataclass(frozen=True, slots=True)
class InviteOutcome:
    ok: bool
    role: str | None = None
    reason: str | None = None  # "unknown", "used", "expired"
    commune: str | None = None  # the commune the role was granted for


async def invite_commune(session: AsyncSession, hasher: Hasher, code: str) -> str | None:
    """The commune an invite code is for, without spending it (None: no such code, or a role for every
    commune)."""
    return (await session.execute(select(Invite.commune).where(
        Invite.code_hash == hasher.digest(code.strip().upper())))).scalar_one_or_none()


async def redeem_invite(session: AsyncSession, hasher: Hasher, code: str, user_id: int,
                        now: datetime | None = None) -> InviteOutcome:
    now = now or utcnow()
    normalized = code.strip().upper()
    invite = (await session.execute(
        select(Invite).where(Invite.code_hash == hasher.digest(normalized)).with_for_update()
    )).scalar_one_or_none()
    if invite is None:
        return InviteOutcome(False, reason="unknown")
    if invite.used_at is not None:
        return InviteOutcome(False, reason="used")
    if invite.expires_at < now:
        return InviteOutcome(False, reason="expired")
    # Conditional update: of two concurrent redeemers only one changes the row.
    claimed = cast(CursorResult[Any], await session.execute(
        update(Invite).where(Invite.id == invite.id, Invite.used_at.is_(None))
        .values(used_at=now, used_by=user_id)
    ))
    if not claimed.rowcount:
        return InviteOutcome(False, reason="used")
    await grant_role(session, user_id, invite.role, granted_by=f"invite:{invite.id}", commune=invite.commune)
    if invite.commune is not None:  # staff work in the commune they were invited for
        await set_commune(session, user_id, invite.commune)
    return InviteOutcome(True, role=invite.role, commune=invite.commune)
