"""Host accounts: a chat user (role `host`) acting for homestays of data/tourism/stays.yml.

An administrator makes a host invite tied to a stay (`/invite host STAY_ID` in chat, or `xaso invite
host --stay ID`); its code's hash is kept here with the stay, and `/join` with that code links the
account to the stay (a host of two stays joins twice). A host sees and confirms only the bookings of
their own stays, and only while they hold the role.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.crypto import Hasher
from core.identity import create_invite
from core.models import Base, Invite, User, UserRole, UTCDateTime, utcnow

ROLE = "host"


class HostInvite(Base):
    __tablename__ = "stay_host_invites"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    commune: Mapped[str] = mapped_column(String(4))
    stay_id: Mapped[str] = mapped_column(String(24))


class HostAccount(Base):
    __tablename__ = "stay_hosts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    commune: Mapped[str] = mapped_column(String(4), primary_key=True)
    stay_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    linked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


async def create_host_invite(session: AsyncSession, hasher: Hasher, stay_id: str, created_by: str,
                             commune: str) -> str:
    code = await create_invite(session, hasher, ROLE, created_by=created_by, commune=commune)
    session.add(HostInvite(code_hash=hasher.digest(code), commune=commune, stay_id=stay_id))
    await session.flush()
    return code


async def link_after_join(session: AsyncSession, hasher: Hasher, code: str, user_id: int) -> str | None:
    """After a successful /join: the stay this invite was for, now linked to the user; else None."""
    digest = hasher.digest(code.strip().upper())
    pending = await session.get(HostInvite, digest)
    if pending is None:
        return None
    invite = await session.scalar(select(Invite).where(Invite.code_hash == digest))
    if invite is None or invite.used_by != user_id:
        return None
    if await session.get(HostAccount, (user_id, pending.commune, pending.stay_id)) is None:
        session.add(HostAccount(user_id=user_id, commune=pending.commune, stay_id=pending.stay_id))
    await session.delete(pending)
    await session.flush()
    return pending.stay_id


async def stays_of(session: AsyncSession, user_id: int, commune: str) -> list[str]:
    """The commune's stays this user hosts, while they hold the role."""
    holds = exists().where(UserRole.user_id == HostAccount.user_id, UserRole.role.in_((ROLE, "admin")))
    rows = await session.scalars(select(HostAccount.stay_id).where(
        HostAccount.user_id == user_id, HostAccount.commune == commune, holds).order_by(HostAccount.stay_id))
    return list(rows)


async def hosts_of(session: AsyncSession, commune: str, stay_id: str) -> list[User]:
    """The accounts hosting a stay that still hold the role."""
    holds = exists().where(UserRole.user_id == HostAccount.user_id, UserRole.role == ROLE)
    rows = await session.scalars(select(User).join(HostAccount, HostAccount.user_id == User.id).where(
        HostAccount.commune == commune, HostAccount.stay_id == stay_id, holds).order_by(User.id))
    return list(rows)
