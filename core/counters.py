"""Numbers that never go back: one counter row per prefix, bumped in the caller's transaction.

Every code a person may read or type (dossiers `LB-2026-000123`, orders `DH-…`, reports `PA-…`,
appointments `LH-…`, consult `#N`) takes its number here, never from a row id: SQLite gives a
deleted row's id again (`max(rowid) + 1`), so an erased account would hand its codes to the next
person. A counter only grows, whatever is deleted, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db import dialect_of, upsert
from core.models import Base


class Counter(Base):
    """The last number given per prefix (`LB-2026`, `DH`, `LH`, `consult` …). The table keeps the name
    it had when only dossiers were numbered."""

    __tablename__ = "dossier_counters"

    prefix: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


async def _ensure(session: AsyncSession, prefix: str) -> None:
    """The counter row for `prefix` exists (at 0 when new)."""
    insert = upsert(dialect_of(session))
    await session.execute(
        insert(Counter).values(prefix=prefix, value=0).on_conflict_do_nothing(index_elements=["prefix"])
    )


async def next_number(session: AsyncSession, prefix: str) -> int:
    """Bumps the counter for `prefix` and returns the new value. The UPDATE holds the row's write
    lock until the transaction ends, so concurrent callers queue behind it and a rollback leaves no gap."""
    await _ensure(session, prefix)
    bumped = await session.execute(
        update(Counter).where(Counter.prefix == prefix)
        .values(value=Counter.value + 1).returning(Counter.value)
        .execution_options(synchronize_session=False)
    )
    return int(bumped.scalar_one())


async def hold(session: AsyncSession, prefix: str) -> None:
    """Takes the counter row's lock for `prefix` until the transaction ends, without taking a number:
    callers that must check something before numbering (a duplicate report) run one after the other."""
    await _ensure(session, prefix)
    await session.execute(select(Counter.value).where(Counter.prefix == prefix).with_for_update())
