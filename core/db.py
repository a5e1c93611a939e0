"""The database: one async engine, sessions, and Alembic migrations run from code."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, inspect, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from core.config import REPO_ROOT
from core.sqlite_driver import WalCheckpointer, in_loop_dbapi


def upsert(dialect: str) -> Any:
    """The `insert` of the database's dialect, whose statements take `on_conflict_do_nothing` and
    `on_conflict_do_update` (PostgreSQL's; SQLite's, the same API, for every other name)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _tune_sqlite(dbapi_connection: Any, _record: Any, checkpointer: WalCheckpointer | None = None) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Zero: a busy database is answered at once and waited for asynchronously (core/sqlite_driver.py),
    # not by SQLite sleeping in the event loop's thread.
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.execute("PRAGMA foreign_keys=ON")
    if checkpointer is not None:  # the log is copied back by the checkpointer's thread, not at commit
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        checkpointer.start()
    cursor.close()


# A pooled PostgreSQL connection idle longer than this is pinged before use (three round trips with
# SQLAlchemy's asyncpg adapter), so that one a database restart or a network blip closed is replaced
# without an error. Pinging every checkout cost about 8 % of a message's CPU; the pool hands out the
# most recently used connection first (LIFO), so under load the same few stay warm and unpinged. A
# connection that dies in use, or within this time of its last use, fails that one request (a 503 with
# Retry-After: bots/server.py) and SQLAlchemy replaces every connection of the pool.
PING_AFTER_IDLE = 0.5


def _stamp_idle(_dbapi_connection: Any, record: Any) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(dialect: Any, dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as problem:  # the pool drops this connection and opens another
        raise DisconnectionError(f"pooled connection gone: {problem}") from problem


class Database:
    def __init__(self, url: str, pool_size: int = 60) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {}
        if not self.is_sqlite:
            # Enough connections for the concurrency one node sees: opening a PostgreSQL connection
            # costs far more than keeping it. The ping at checkout (a round trip on an open
            # connection) finds those a database restart or a network blip closed and replaces them,
            # so the node reconnects by itself; recycling bounds a connection's age.
            options.update(pool_size=pool_size, max_overflow=pool_size // 2, pool_recycle=1800,
                           pool_use_lifo=True)
        self.checkpointer: WalCheckpointer | None = None
        if self.is_sqlite and make_url(url).get_driver_name() == "aiosqlite":
            options["module"] = in_loop_dbapi()
            path = make_url(url).database
            if path and path != ":memory:" and not path.startswith("file:"):
                self.checkpointer = WalCheckpointer(path)
        self.engine: AsyncEngine = create_async_engine(url, **options)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect",
                         functools.partial(_tune_sqlite, checkpointer=self.checkpointer))
        else:
            event.listen(self.engine.sync_engine.pool, "checkin", _stamp_idle)
            event.listen(self.engine.sync_engine.pool, "checkout",
                         functools.partial(_ping_if_idle, self.engine.sync_engine.dialect))
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends normally, rolled back otherwise."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def upgrade(self, revision: str = "head") -> None:
        def run(connection: Connection) -> None:
            command.upgrade(alembic_config(connection), revision)

        async with self.engine.begin() as connection:
            await connection.run_sync(run)

    async def has_schema(self) -> bool:
        path = make_url(self.url).database
        if self.is_sqlite and path and path != ":memory:" and not await asyncio.to_thread(Path(path).exists):
            return False  # connecting would create an empty file

        def check(connection: Connection) -> bool:
            return inspect(connection).has_table("alembic_version")

        async with self.engine.connect() as connection:
            return await connection.run_sync(check)

    async def close(self) -> None:
        await self.engine.dispose()
        if self.checkpointer is not None:
            await asyncio.to_thread(self.checkpointer.stop)
