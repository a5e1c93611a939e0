"""Dashboard logins: one-time links sent to a staff member's chat, and the sessions they open.

Only keyed digests of the link tokens and session ids are stored (`Hasher.digest`), so a copy of the
database opens nothing. A link is good once and for a few minutes; using it is a conditional UPDATE,
so two clicks racing each other open one session at most. A session ends after a spell of idleness,
at a fixed absolute age, or on logout, whichever comes first.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import ForeignKey, String, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.config import Settings
from core.crypto import Hasher
from core.models import Base, User, UserRole, UTCDateTime, utcnow

TOKEN_BYTES = 32
KEEP_LINKS = dt.timedelta(days=1)
KEEP_SESSIONS = dt.timedelta(days=7)
# Who may open the dashboard (admin counts as every role, see Identity.has_any): a commune's staff see
# their commune; the province's read-only role sees every commune and may change nothing.
PROVINCE = "province"
DASHBOARD_ROLES = frozenset({"staff", PROVINCE})


class LoginLink(Base):
    __tablename__ = "dashboard_login_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class DashboardSession(Base):
    __tablename__ = "dashboard_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(8), default="vi")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True, slots=True)
class Lifetimes:
    link: dt.timedelta = dt.timedelta(minutes=10)
    idle: dt.timedelta = dt.timedelta(minutes=30)
    absolute: dt.timedelta = dt.timedelta(hours=12)

    @classmethod
    def from_settings(cls, settings: Settings) -> Lifetimes:
        return cls(link=dt.timedelta(minutes=settings.dashboard_link_minutes),
                   idle=dt.timedelta(minutes=settings.dashboard_idle_minutes),
                   absolute=dt.timedelta(hours=settings.dashboard_session_hours))


@dataclass(frozen=True, slots=True)
class Staff:
    """The person behind a live session, with the roles they hold now in their commune (read on every
    request)."""

    user_id: int
    session_hash: str
    language: str
    roles: frozenset[str]
    commune: str | None = None  # the commune the user belongs to (users.commune)

    @property
    def province(self) -> bool:
        """Sees every commune, acts in none (the role "province", granted for all of them)."""
        return PROVINCE in self.roles and not self.may(frozenset({"staff"}))

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}"

    def may(self, roles: frozenset[str]) -> bool:
        return "admin" in self.roles or bool(self.roles & roles)


async def identity_of(session: AsyncSession, user_id: int) -> tuple[frozenset[str], str | None]:
    """The user's roles that apply where they are (granted for their commune, or for every commune,
    as core/identity.py reads them), and that commune."""
    commune = await session.scalar(select(User.commune).where(User.id == user_id))
    rows = await session.scalars(select(UserRole.role).where(
        UserRole.user_id == user_id, or_(UserRole.commune.is_(None), UserRole.commune == commune)))
    return frozenset({"citizen", *rows}), commune


async def roles_of(session: AsyncSession, user_id: int) -> frozenset[str]:
    return (await identity_of(session, user_id))[0]


def may_open(roles: frozenset[str]) -> bool:
    return "admin" in roles or bool(roles & DASHBOARD_ROLES)


async def create_link(session: AsyncSession, hasher: Hasher, user_id: int, lifetimes: Lifetimes,
                      now: dt.datetime | None = None) -> str:
    """A new one-time login token for `user_id`, in the caller's transaction."""
    now = now or utcnow()
    # Housekeeping while we are here: links long dead, sessions well past their end.
    await session.execute(delete(LoginLink).where(LoginLink.expires_at < now - KEEP_LINKS))
    await session.execute(delete(DashboardSession).where(DashboardSession.expires_at < now - KEEP_SESSIONS))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(LoginLink(token_hash=hasher.digest(token), user_id=user_id, created_at=now,
                          expires_at=now + lifetimes.link))
    await session.flush()
    return token


async def use_link(session: AsyncSession, hasher: Hasher, token: str,
                   now: dt.datetime | None = None) -> tuple[int | None, str]:
    """Spends a login token: (user id, "ok"), or (user id or None, why not: unknown, used, expired)."""
    now = now or utcnow()
    digest = hasher.digest(token)
    link = await session.get(LoginLink, digest)
    if link is None:
        return None, "unknown"
    if link.used_at is not None:
        return link.user_id, "used"
    if link.expires_at <= now:
        return link.user_id, "expired"
    spent = await session.execute(
        update(LoginLink).where(LoginLink.token_hash == digest, LoginLink.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False))
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        return link.user_id, "used"
    return link.user_id, "ok"


async def open_session(session: AsyncSession, hasher: Hasher, user_id: int, lifetimes: Lifetimes,
                       now: dt.datetime | None = None) -> str:
    """A new session for `user_id`; returns the id that goes in the cookie (only its digest is kept)."""
    now = now or utcnow()
    session_id = secrets.token_urlsafe(TOKEN_BYTES)
    user = await session.get(User, user_id)
    language = user.language if user is not None and user.language in ("vi", "en") else "vi"
    session.add(DashboardSession(id_hash=hasher.digest(session_id), user_id=user_id, language=language,
                                 created_at=now, last_seen_at=now, expires_at=now + lifetimes.absolute))
    await session.flush()
    return session_id


async def find_session(session: AsyncSession, hasher: Hasher, session_id: str, lifetimes: Lifetimes,
                       now: dt.datetime | None = None) -> Staff | None:
    """The live session behind a cookie, its idle clock reset; None when unknown, ended or expired."""
    now = now or utcnow()
    digest = hasher.digest(session_id)
    row = await session.get(DashboardSession, digest)
    if row is None or row.ended_at is not None:
        return None
    if row.expires_at <= now or row.last_seen_at + lifetimes.idle <= now:
        row.ended_at = now
        return None
    row.last_seen_at = now
    roles, commune = await identity_of(session, row.user_id)
    return Staff(row.user_id, digest, row.language, roles, commune)


async def set_language(session: AsyncSession, session_hash: str, language: str) -> None:
    await session.execute(update(DashboardSession).where(DashboardSession.id_hash == session_hash)
                          .values(language=language).execution_options(synchronize_session=False))


async def end_session(session: AsyncSession, session_hash: str, now: dt.datetime | None = None) -> None:
    await session.execute(update(DashboardSession)
                          .where(DashboardSession.id_hash == session_hash,
                                 DashboardSession.ended_at.is_(None))
                          .values(ended_at=now or utcnow()).execution_options(synchronize_session=False))
