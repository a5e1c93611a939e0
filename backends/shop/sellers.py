"""Seller accounts: a chat user acting for one seller of data/products.yml.

An administrator makes a seller invite tied to a seller (`xaso invite seller --seller ID`, or
`/invite seller ID` in chat); the invite's code hash is kept here with the seller id, and `/join`
with that code links the new seller account to it. A seller sees and handles only its own orders.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, ForeignKey, String, exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.crypto import Hasher
from core.identity import create_invite
from core.models import Base, Invite, User, UserRole, UTCDateTime, utcnow

# A linked account acts for its seller while its user holds one of these roles.
ACTING_ROLES = ("seller", "admin")


class SellerInvite(Base):
    __tablename__ = "shop_seller_invites"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64))


class SellerAccount(Base):
    __tablename__ = "shop_seller_accounts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    seller_id: Mapped[str] = mapped_column(String(64), index=True)
    linked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


def acting() -> ColumnElement[bool]:
    """The condition on `SellerAccount` rows: the account's user still holds a role of ACTING_ROLES."""
    return exists().where(UserRole.user_id == SellerAccount.user_id, UserRole.role.in_(ACTING_ROLES))


async def create_seller_invite(session: AsyncSession, hasher: Hasher, seller_id: str, created_by: str,
                               commune: str | None = None) -> str:
    code = await create_invite(session, hasher, "seller", created_by=created_by, commune=commune)
    session.add(SellerInvite(code_hash=hasher.digest(code), seller_id=seller_id))
    await session.flush()
    return code


async def link_after_join(session: AsyncSession, hasher: Hasher, code: str, user_id: int) -> str | None:
    """After a successful /join: the seller this invite was for, now linked to the user; else None."""
    digest = hasher.digest(code.strip().upper())
    pending = await session.get(SellerInvite, digest)
    if pending is None:
        return None
    invite = await session.scalar(select(Invite).where(Invite.code_hash == digest))
    if invite is None or invite.used_by != user_id:
        return None
    account = await session.get(SellerAccount, user_id)
    if account is None:
        session.add(SellerAccount(user_id=user_id, seller_id=pending.seller_id))
    else:
        account.seller_id, account.linked_at = pending.seller_id, utcnow()
    await session.delete(pending)
    await session.flush()
    return pending.seller_id


async def seller_of(session: AsyncSession, user_id: int) -> str | None:
    return await session.scalar(select(SellerAccount.seller_id).where(SellerAccount.user_id == user_id))


async def accounts_of(session: AsyncSession, seller_id: str) -> list[User]:
    rows = await session.scalars(select(User).join(SellerAccount, SellerAccount.user_id == User.id)
                                 .where(SellerAccount.seller_id == seller_id).order_by(User.id))
    return list(rows)
