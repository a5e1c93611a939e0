"""Who is writing: users by (channel, platform id), their roles, and one-time invites."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import Hasher
from core.i18n import DEFAULT_LANGUAGE
from core.models import Invite, User, UserRole, utcnow

# Which roles exist is declared by the services (bots/dialogue/service.py `Role`); core only keeps
# names well formed. Everyone holds "citizen", which is never granted.
CITIZEN = "citizen"
_ROLE_NAME = re.compile(r"[a-z][a-z0-9_-]{1,31}")
INVITE_LIFETIME = timedelta(days=7)
_SEEN_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Identity:
    id: int
    channel: str
    external_id: str
    language: str
    roles: frozenset[str]

    def has_any(self, roles: frozenset[str] | set[str]) -> bool:
        return "admin" in self.roles or bool(self.roles & roles)


async def resolve_user(session: AsyncSession, channel: str, external_id: str,
                       language: str | None = None, display_name: str | None = None) -> Identity:
    """The user behind a platform id, created on first contact."""
    identity = await find_user(session, channel, external_id)
    if identity is not None:
        return identity
    await _create(session, channel, external_id, language, display_name)
    identity = await find_user(session, channel, external_id)
    assert identity is not None
    return identity


async def find_user(session: AsyncSession, channel: str, external_id: str) -> Identity | None:
    """One round trip for the user and roles: this runs on every message."""
    rows = (await session.execute(
        select(User.id, User.language, User.last_seen_at, UserRole.role)
        .outerjoin(UserRole, UserRole.user_id == User.id)
        .where(User.channel == channel, User.external_id == external_id)
    )).all()
    if not rows:
        return None
    user_id, language, last_seen_at, _ = rows[0]
    now = utcnow()
    if now - last_seen_at > _SEEN_EVERY:
        await session.execute(update(User).where(User.id == user_id).values(last_seen_at=now))
    roles = {CITIZEN, *(row.role for row in rows if row.role is not None)}
    return Identity(user_id, channel, external_id, language, frozenset(roles))


async def _create(session: AsyncSession, channel: str, external_id: str, language: str | None,
                  display_name: str | None) -> None:
    user = User(channel=channel, external_id=external_id, display_name=display_name,
                language="en" if (language or "").startswith("en") else "vi")
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:  # created meanwhile by a concurrent request of the same user
        pass


async def set_language(session: AsyncSession, user_id: int, language: str) -> None:
    await session.execute(update(User).where(User.id == user_id).values(language=language))


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


async def grant_role(session: AsyncSession, user_id: int, role: str, granted_by: str) -> bool:
    _check_role(role)
    existing = await session.get(UserRole, (user_id, role))
    if existing is not None:
        return False
    session.add(UserRole(user_id=user_id, role=role, granted_by=granted_by))
    await session.flush()
    return True


async def revoke_roles(session: AsyncSession, user_id: int, role: str | None = None) -> int:
    query = delete(UserRole).where(UserRole.user_id == user_id)
    if role is not None:
        query = query.where(UserRole.role == role)
    result = cast(CursorResult[Any], await session.execute(query))
    return result.rowcount or 0


async def role_holders(session: AsyncSession, *roles: str,
                       exclude: int | None = None) -> dict[User, set[str]]:
    """The users holding any of `roles`, each with those of them it holds, in user id order. An
    administrator counts only where "admin" is named; `exclude` leaves one user out (who acted)."""
    query = (select(User, UserRole.role).join(UserRole, UserRole.user_id == User.id)
             .where(UserRole.role.in_(roles)).order_by(User.id, UserRole.role))
    if exclude is not None:
        query = query.where(User.id != exclude)
    found: dict[int, tuple[User, set[str]]] = {}
    for user, role in await session.execute(query):
        found.setdefault(user.id, (user, set()))[1].add(role)
    return dict(found.values())


async def users_with_role(session: AsyncSession, *roles: str, exclude: int | None = None) -> list[User]:
    """The users holding any of `roles`, once each, in user id order (see `role_holders`)."""
    return list(await role_holders(session, *roles, exclude=exclude))


async def create_invite(session: AsyncSession, hasher: Hasher, role: str, created_by: str,
                        lifetime: timedelta = INVITE_LIFETIME) -> str:
    _check_role(role)
    code = "-".join(secrets.token_hex(3).upper() for _ in range(3))
    session.add(Invite(code_hash=hasher.digest(code), role=role, created_by=created_by,
                       expires_at=utcnow() + lifetime))
    await session.flush()
    return code


@dataclass(frozen=True, slots=True)
class InviteOutcome:
    ok: bool
    role: str | None = None
    reason: str | None = None  # "unknown", "used", "expired"


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
    await grant_role(session, user_id, invite.role, granted_by=f"invite:{invite.id}")
    return InviteOutcome(True, role=invite.role)
