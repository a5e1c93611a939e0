"""SQLite statements run in the event loop's thread, waiting for the write lock without blocking it.

SQLAlchemy's aiosqlite adapter sends every statement to aiosqlite's worker thread four times (a
cursor, the execution, the rows, closing the cursor), and each trip between threads (a queue put, a
thread wake-up, a self-pipe write and a future) costs about 110 µs of CPU on a virtual machine like
ours, where waking a thread on the other core is dear. A message runs about ten statements: some
forty trips, 4–5 ms, for statements that take 10 µs each in SQLite itself.

Here a statement runs where SQLAlchemy asks for it, in the loop's thread, with SQLite's own busy
timeout at zero: when another connection holds the write lock, SQLite answers "busy" at once and we
wait for it asynchronously (short sleeps, growing like SQLite's own busy handler, up to
``BUSY_TIMEOUT``), so the loop keeps serving while a writer finishes. A statement SQLite refused as
busy changed nothing, so running it again is safe; a "busy snapshot" (a read transaction that may
no longer write) is not retried, as SQLite's own handler would not either.

aiosqlite still opens and closes the connections (in its thread); the engine gets this module as
its DBAPI (``create_async_engine(..., module=in_loop_dbapi())``), so URLs stay
``sqlite+aiosqlite://``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
import threading
import time
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

log = logging.getLogger(__name__)
BUSY_TIMEOUT = 10.0  # seconds a statement waits for another connection's write lock
_BUSY_SLEEPS = (0.0, 0.001, 0.002, 0.005, 0.01, 0.015, 0.02, 0.025)  # then 0.025 s each
_SQLITE_BUSY = 5
_SQLITE_BUSY_SNAPSHOT = 5 | (2 << 8)


def _busy(error: sqlite3.OperationalError) -> bool:
    code: int | None = getattr(error, "sqlite_errorcode", None)
    if code is None:  # an error raised by the module itself, not by SQLite
        return False
    return bool(code & 0xFF == _SQLITE_BUSY and code != _SQLITE_BUSY_SNAPSHOT)


async def _waiting_out_busy(call: Any, *args: Any) -> Any:
    """`call(*args)`, again after a short asynchronous sleep for as long as SQLite says busy. A
    coroutine, awaited through SQLAlchemy's `await_`, so that its async engine sees the await it
    expects of every statement."""
    deadline = None
    for attempt in range(1_000_000):
        try:
            return call(*args)
        except sqlite3.OperationalError as error:
            if not _busy(error):
                raise
            now = time.monotonic()
            deadline = deadline or now + BUSY_TIMEOUT
            if now >= deadline:
                raise
            await asyncio.sleep(_BUSY_SLEEPS[min(attempt, len(_BUSY_SLEEPS) - 1)])
    raise AssertionError("unreachable")


def _execute(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> tuple[
        Any, list[Any], int, int | None]:
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class _InLoopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # no aiosqlite cursor: nothing to open or close
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return 1

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        pass

    async def _async_soft_close(self) -> None:
        pass  # the rows are already here and SQLite's cursor is closed

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        return self._run(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        return self._run(operation, seq_of_parameters, many=True)

    def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        try:
            outcome = await_(_waiting_out_busy(_execute, self._connection._conn, operation, parameters,
                                                        many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


class _InLoopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _InLoopCursor  # type: ignore[assignment]  # a subclass; SQLAlchemy's stubs say its own

    def commit(self) -> None:
        self._in_loop(lambda connection: connection.commit())

    def rollback(self) -> None:
        self._in_loop(lambda connection: connection.rollback())

    def _in_loop(self, call: Any) -> None:
        if not self._connection._connection:
            return  # closed: like SQLAlchemy's own adapter, nothing to end
        try:
            await_(_waiting_out_busy(call, self._connection._conn))
        except Exception as error:
            self._handle_exception(error)


class _InLoopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        # Opened in aiosqlite's thread, used from the loop's: never at the same time (every use
        # is awaited), which is what sqlite3's check allows us to promise.
        kw["check_same_thread"] = False
        adapted = super().connect(*arg, **kw)
        return _InLoopConnection(self, adapted._connection)


def in_loop_dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    return _InLoopDBAPI(aiosqlite, sqlite3)


class WalCheckpointer:
    """Copies SQLite's write-ahead log back into the database file from a thread of its own, every
    `every` seconds, instead of the committing connection doing it every thousand pages: that
    checkpoint waits for the disk (fsync), and with statements in the loop's thread it stalled every
    conversation for up to 30 ms about every thirty messages. A PASSIVE checkpoint never waits for
    readers or writers; what it cannot copy yet, the next one does."""

    def __init__(self, path: str, every: float = 1.0) -> None:
        self.path = path
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=0, check_same_thread=True)
        try:
            while not self._stop.wait(self.every):
                self.checkpoint(connection)
            self.checkpoint(connection)
        finally:
            connection.close()

    @staticmethod
    def checkpoint(connection: sqlite3.Connection) -> None:
        try:
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as problem:  # busy, or the file went away (tests): the next turn tries again
            log.debug("WAL checkpoint skipped: %s", problem)
