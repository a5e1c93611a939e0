"""SQLite statements run in the event loop's thread and wait for another writer without blocking it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

import core.sqlite_driver
from core.db import Database


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with db.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    yield db
    await db.close()


async def test_a_statement_makes_no_trip_to_the_driver_thread(database: Database,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    async with database.session() as session:
        await session.execute(text("SELECT 1"))  # the connection is open
        trips: list[Any] = []
        original = aiosqlite.Connection._execute

        async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
            trips.append(fn)
            return await original(self, fn, *args, **kwargs)

        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        for value in ("a", "b", "c"):
            await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})
        rows = (await session.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all()
    assert rows == ["a", "b", "c"]
    assert trips == []  # commit included


async def test_rows_rowcount_and_lastrowid_are_kept(database: Database) -> None:
    async with database.engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO t (v) VALUES ('x')"))
        assert inserted.lastrowid == 1
        await connection.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "y"}, {"v": "z"}])
        updated = await connection.execute(text("UPDATE t SET v = 'w' WHERE id > 1"))
        assert updated.rowcount == 2
        result = await connection.execute(text("SELECT id, v FROM t ORDER BY id"))
        assert list(result.keys()) == ["id", "v"]
        assert [tuple(row) for row in result] == [(1, "x"), (2, "w"), (3, "w")]
        returned = await connection.execute(text("UPDATE t SET v = 'r' WHERE id = 3 RETURNING id"))
        assert returned.scalar_one() == 3


async def test_a_writer_waits_for_another_without_blocking_the_loop(database: Database) -> None:
    other = Database(database.url)  # its own connection, as another task or process has
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    ticking = asyncio.create_task(ticker())
    try:
        async with other.engine.begin() as holder:
            await holder.execute(text("INSERT INTO t (v) VALUES ('first')"))  # holds the write lock
            waiting = asyncio.create_task(_insert(database, "second"))
            await asyncio.sleep(0.2)
            assert not waiting.done()
            before = ticks
            await asyncio.sleep(0.05)
            assert ticks > before  # the loop kept running while the second writer waited
        await asyncio.wait_for(waiting, 5)
    finally:
        ticking.cancel()
        await other.close()
    async with database.session() as session:
        assert (await session.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all() == [
            "first", "second"]


async def test_a_writer_gives_up_after_the_busy_timeout(database: Database,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.sqlite_driver, "BUSY_TIMEOUT", 0.3)
    other = Database(database.url)
    try:
        async with other.engine.begin() as holder:
            await holder.execute(text("INSERT INTO t (v) VALUES ('first')"))
            started = time.monotonic()
            with pytest.raises(OperationalError, match="locked"):
                await _insert(database, "second")
            assert 0.3 <= time.monotonic() - started < 2
    finally:
        await other.close()


async def _insert(database: Database, value: str) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": value})


async def test_the_log_is_copied_back_by_the_checkpointer_not_at_commit(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    assert db.checkpointer is not None
    db.checkpointer.every = 0.05
    try:
        async with db.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE big (v TEXT)"))
            assert (await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 0
        before = path.stat().st_size
        async with db.engine.begin() as connection:
            await connection.execute(text("INSERT INTO big (v) VALUES (:v)"), [{"v": "x" * 500}] * 4000)
        assert path.stat().st_size == before  # committed into the log only
        for _ in range(100):
            await asyncio.sleep(0.05)
            if path.stat().st_size > before + 1_000_000:
                break
        assert path.stat().st_size > before + 1_000_000  # copied into the file by the thread
    finally:
        await db.close()
    assert db.checkpointer._thread is None
