"""The audit log: append-only and hash-chained, written with group commit.

Each entry's hash is ``h_i = SHA-256(h_{i-1} ‖ canonical(entry_i))`` where ``h_{i-1}`` is the previous
entry's hex digest as ASCII text (the genesis value is 64 zeros) and ``canonical`` is the entry as JSON
with sorted keys, no whitespace, ``ensure_ascii=False``, in UTF-8; ``at`` is ISO 8601 UTC with
microseconds. An auditor can therefore re-check any entry with ``printf %s "$prev$json" | sha256sum``.

No personal data goes in: actors look like ``user:42``, ``system`` or ``cli``; subjects are ids; detail
holds a few scalars (ids, codes, hashes). Callers that must refer to a phone number or the like use
`pseudonym`. Every text is checked to be a short token without whitespace, which keeps free text
(message bodies, names, error messages) out.

Whoever can write the database could still rewrite a suffix of the chain and its head; the head is
therefore signed now and then with the commune's key (core/audit_checkpoints.py), and `verify` checks
the chain it recomputes against every signed checkpoint.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import json
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TextIO, cast

from sqlalchemy import RowMapping, Table, bindparam, column, exists, func, insert, select, update, values
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit_checkpoints import (
    AuditCheckpoints,
    Checkpoint,
    CheckpointCheck,
    merge,
    read_checkpoints,
    vietnam_time,
)
from core.db import Database
from core.models import AuditEntry, AuditHead, utcnow

Scalar = str | int | float | bool | None

GENESIS_HASH = "0" * 64
HEAD_ID = 1

# Built once: they run for every batch of entries.
_HEAD_FOR_UPDATE = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID).with_for_update()
_TOUCH_HEAD_RETURNING = (update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=AuditHead.seq)
                         .returning(AuditHead.seq, AuditHead.hash))
_MOVE_HEAD = (update(AuditHead).where(AuditHead.id == HEAD_ID)
              .values(seq=bindparam("seq"), hash=bindparam("hash")))
_MOVE_HEAD_IF = _MOVE_HEAD.where(AuditHead.seq == bindparam("old_seq"),
                                 AuditHead.hash == bindparam("old_hash"))
_ENTRY_COLUMNS = ("seq", "at", "actor", "action", "subject", "outcome", "detail", "prev_hash", "hash")
_MOVE_AND_INSERT: dict[int, Any] = {}


def _move_and_insert(count: int) -> Any:
    """WITH moved AS (UPDATE audit_head … WHERE seq = :old_seq AND hash = :old_hash RETURNING id)
    INSERT INTO audit_log SELECT … FROM (VALUES …) WHERE EXISTS (SELECT id FROM moved), for `count`
    entries; built once per batch size (up to 64, then each time)."""
    statement = _MOVE_AND_INSERT.get(count)
    if statement is None:
        table = cast(Table, AuditEntry.__table__)
        moved = _MOVE_HEAD_IF.returning(AuditHead.id).cte("moved")
        entries = values(*(column(name, table.c[name].type) for name in _ENTRY_COLUMNS), name="entries").data(
            [tuple(bindparam(f"{name}_{number}", type_=table.c[name].type) for name in _ENTRY_COLUMNS)
             for number in range(count)])
        statement = (insert(table).from_select(list(_ENTRY_COLUMNS),
                                               select(entries).where(exists(select(moved.c.id))))
                     .add_cte(moved))
        if count <= 64:
            _MOVE_AND_INSERT[count] = statement
    return statement


PSEUDONYM_HEX_CHARS = 32
MAX_DETAIL_KEYS = 16
MAX_DETAIL_KEY_CHARS = 32
MAX_DETAIL_VALUE_CHARS = 128
# Column widths of AuditEntry: checked before queueing so that one bad entry cannot fail a whole batch.
FIELD_LIMITS = {"actor": 64, "action": 64, "subject": 128, "outcome": 16}
CANONICAL_FIELDS = ("seq", "at", "actor", "action", "subject", "outcome", "detail")
ROW_COLUMNS = (*CANONICAL_FIELDS, "prev_hash", "hash")


class AuditWriteError(RuntimeError):
    """An entry could not be written; the action it describes must not be taken as audited."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str | None
    outcome: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int  # entries found sound
    first_bad_seq: int | None = None
    reason: str | None = None
    checkpoints: int = 0  # signed checkpoints found good (only when verify was given a CheckpointCheck)
    last_checkpoint: Checkpoint | None = None  # of those, the one covering the most entries
    unchecked: int = 0  # checkpoints left unjudged for want of the commune's public key

    @property
    def covered_up_to(self) -> int:
        """Entries up to this seq are covered by a good signed checkpoint."""
        return 0 if self.last_checkpoint is None else self.last_checkpoint.seq


@dataclass(frozen=True, slots=True)
class _Draft:
    """An entry before it has a place in the chain."""

    at: datetime
    actor: str
    action: str
    subject: str | None
    outcome: str
    detail: dict[str, Scalar]

    def row(self, seq: int) -> dict[str, Any]:
        return {"seq": seq, **asdict(self)}


@dataclass(slots=True)
class _Pending:
    draft: _Draft
    future: asyncio.Future[int]


# ---------------------------------------------------------------------------------------------------
# Hashing


def pseudonym(value: str, key: bytes) -> str:
    """A stable, keyed stand-in for a personal value (phone number, ID number) in audit entries."""
    if not key:
        raise ValueError("pseudonym needs a non-empty key")
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_HEX_CHARS]


def canonical(row: Mapping[Any, Any]) -> bytes:
    """The bytes that are hashed for one entry: the canonical fields of `row`, other keys ignored."""
    fields = {name: row[name] for name in CANONICAL_FIELDS}
    fields["at"] = fields["at"].astimezone(UTC).isoformat(timespec="microseconds")
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


def chain_hash(prev_hash: str, row: Mapping[Any, Any]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical(row)).hexdigest()


# ---------------------------------------------------------------------------------------------------
# Validation: everything that could fail inside the batch transaction is refused up front.


def _check_token(name: str, value: object, limit: int) -> None:
    if not isinstance(value, str):
        raise TypeError(f"audit {name} must be a str, not {type(value).__name__}")
    if not value or len(value) > limit:
        raise ValueError(f"audit {name} must be 1 to {limit} characters")
    if not value.isprintable() or any(char.isspace() for char in value):
        raise ValueError(f"audit {name} must be a token without spaces (ids and codes, no free text)")


def _check_detail(detail: Mapping[str, Scalar]) -> dict[str, Scalar]:
    if len(detail) > MAX_DETAIL_KEYS:
        raise ValueError(f"audit detail holds at most {MAX_DETAIL_KEYS} keys")
    for key, value in detail.items():
        _check_token("detail key", key, MAX_DETAIL_KEY_CHARS)
        if isinstance(value, str):
            _check_token(f"detail[{key!r}]", value, MAX_DETAIL_VALUE_CHARS)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"audit detail[{key!r}] must be a finite number")
        elif value is not None and not isinstance(value, int | float):
            raise TypeError(f"audit detail[{key!r}] must be a scalar, not {type(value).__name__}")
    return dict(detail)


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("the audit clock must return an aware datetime")
    return at.astimezone(UTC)


# ---------------------------------------------------------------------------------------------------
# Verification


class _ChainWalk:
    """Follows the chain entry by entry; the first problem found is where it breaks."""

    def __init__(self) -> None:
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH
        self.checked = 0

    def step(self, row: RowMapping) -> VerifyResult | None:
        seq = row["seq"]
        if seq != self.expected_seq:
            return self._broken(self.expected_seq, f"entry {self.expected_seq} is missing")
        if row["prev_hash"] != self.prev_hash:
            return self._broken(seq, f"entry {seq} does not link to entry {seq - 1}")
        if chain_hash(row["prev_hash"], row) != row["hash"]:
            return self._broken(seq, f"entry {seq} does not match its hash")
        self.prev_hash = row["hash"]
        self.expected_seq += 1
        self.checked += 1
        return None

    def finish(self, head_seq: int, head_hash: str) -> VerifyResult | None:
        last_seq = self.expected_seq - 1
        if last_seq != head_seq:
            reason = f"entries {self.expected_seq} to {head_seq} are missing (the head is at {head_seq})"
            return self._broken(self.expected_seq, reason)
        if self.prev_hash != head_hash:
            return self._broken(head_seq, f"the head does not match entry {head_seq}")
        return None

    def _broken(self, seq: int, reason: str) -> VerifyResult:
        return VerifyResult(ok=False, checked=self.checked, first_bad_seq=seq, reason=reason)


class _CheckpointJudge:
    """Judges each signed checkpoint when the walk reaches its entry: its signature, then the hash the
    walk recomputed there against the head it signed."""

    def __init__(self, check: CheckpointCheck) -> None:
        self.check = check
        self.good = 0
        self.unchecked = 0
        self.last_good: Checkpoint | None = None
        self._waiting: collections.deque[Checkpoint] = collections.deque()

    async def load(self, database: Database, after: int | None, up_to: int | None) -> None:
        stored = await read_checkpoints(database, after, up_to)
        self._waiting.extend(merge(stored, self.check.elsewhere(after, up_to)))

    def reached(self, seq: int, recomputed: str, checked: int) -> VerifyResult | None:
        """The walk holds entries up to `seq`, which hash to `recomputed`."""
        while self._waiting and self._waiting[0].seq <= seq:
            checkpoint = self._waiting.popleft()
            if broken := self._judge(checkpoint, recomputed if checkpoint.seq == seq else None, checked):
                return broken
        return None

    def pending(self) -> list[Checkpoint]:
        """The checkpoints loaded and not yet reached, taken out."""
        waiting = list(self._waiting)
        self._waiting.clear()
        return waiting

    def beyond(self, checkpoint: Checkpoint, chain_end: int, checked: int) -> VerifyResult | None:
        """`checkpoint` lies past the walk; `chain_end` is the head's seq as read now. Only its signature
        is judged unless it covers entries past `chain_end`."""
        if (broken := self._signature(checkpoint, checked)) or not self.check.keys \
                or checkpoint.seq <= chain_end:
            return broken
        missing = _entries(chain_end + 1, checkpoint.seq, verb=True)
        reason = (f"{missing} missing: signed checkpoint {checkpoint.label} covers entry {checkpoint.seq} "
                  f"but the chain ends at entry {chain_end}")
        return self._broken(chain_end + 1, reason, checked)

    def result(self, checked: int) -> VerifyResult:
        if self.unchecked:
            reason = (f"{self.unchecked} signed checkpoint(s) cannot be checked: no certificate of the "
                      "commune's signing key (run this where XASO_VAR_DIR/keys is, or pass --cert)")
            return VerifyResult(ok=False, checked=checked, reason=reason, unchecked=self.unchecked)
        return VerifyResult(ok=True, checked=checked, checkpoints=self.good, last_checkpoint=self.last_good)

    def _judge(self, checkpoint: Checkpoint, recomputed: str | None, checked: int) -> VerifyResult | None:
        if (broken := self._signature(checkpoint, checked)) or not self.check.keys:
            return broken
        if recomputed != checkpoint.head_hash:
            return self._broken(checkpoint.seq, self._rewritten(checkpoint), checked)
        self.good += 1
        if self.last_good is None or checkpoint.seq >= self.last_good.seq:
            self.last_good = checkpoint
        return None

    def _rewritten(self, checkpoint: Checkpoint) -> str:
        reason = f"the chain differs from signed checkpoint {checkpoint.label} at entry {checkpoint.seq}"
        good = self.last_good
        if good is None:
            where = _entries(1, checkpoint.seq)
            return f"{reason}; no earlier checkpoint holds, so the change lies in {where}"
        reason += f"; last good checkpoint {good.label} ({vietnam_time(good.at)}) at entry {good.seq}"
        if good.seq < checkpoint.seq:
            reason += f", so the change lies in {_entries(good.seq + 1, checkpoint.seq)}"
        return reason

    def _signature(self, checkpoint: Checkpoint, checked: int) -> VerifyResult | None:
        if not self.check.keys:
            self.unchecked += 1
            return None
        problem = self.check.problem(checkpoint)
        return None if problem is None else self._broken(None, problem, checked)

    def _broken(self, seq: int | None, reason: str, checked: int) -> VerifyResult:
        return VerifyResult(ok=False, checked=checked, first_bad_seq=seq, reason=reason,
                            checkpoints=self.good, last_checkpoint=self.last_good)


# ---------------------------------------------------------------------------------------------------
# The log


class AuditLog:
    """Appends entries in batches: `record` queues an entry and waits for the single writer task,
    which writes everything queued in one short transaction. Before `start()` and after `close()`
    each `record` writes its own transaction, so command-line use needs no writer.

    With `checkpoints` (the server's), `close` signs the head once the writer has written everything
    queued, and `checkpoints.run` signs it at intervals meanwhile."""

    def __init__(
        self,
        database: Database,
        clock: Callable[[], datetime] = utcnow,
        *,
        max_batch: int = 500,
        page_size: int = 1000,
        checkpoints: AuditCheckpoints | None = None,
    ) -> None:
        if max_batch < 1 or page_size < 1:
            raise ValueError("max_batch and page_size must be positive")
        self.checkpoints = checkpoints
        self._db = database
        self._clock = clock
        self._max_batch = max_batch
        self._page_size = page_size
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._head: tuple[int, str] | None = None  # (seq, hash) as this log last wrote it

    # Lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._writer is not None:
            raise RuntimeError("the audit log is already started")
        self._writer = asyncio.create_task(self._run_writer(), name="audit-writer")

    async def close(self) -> None:
        """Writes what is queued, then stops the writer; then signs a checkpoint of the head, if the
        chain moved since the last one (the shutdown checkpoint)."""
        writer, self._writer = self._writer, None
        if writer is None:
            return
        self._queue.put_nowait(None)
        await writer
        if self.checkpoints is not None:
            await self.checkpoints.write_if_moved("shutdown")

    # Writing -------------------------------------------------------------------------------------------

    async def record(
        self,
        actor: str,
        action: str,
        *,
        subject: str | None = None,
        outcome: str = "ok",
        detail: Mapping[str, Scalar] | None = None,
    ) -> int:
        """Appends one entry and returns its seq once it is committed; raises AuditWriteError if the
        write failed. With the writer running, an entry whose caller is cancelled is still written."""
        draft = self._draft(actor, action, subject, outcome, detail or {})
        if self._writer is None or self._writer.done():
            return await self._write_directly(draft)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(draft, future))
        return await future

    def _draft(
        self, actor: str, action: str, subject: str | None, outcome: str, detail: Mapping[str, Scalar]
    ) -> _Draft:
        for name, value in (("actor", actor), ("action", action), ("outcome", outcome)):
            _check_token(name, value, FIELD_LIMITS[name])
        if subject is not None:
            _check_token("subject", subject, FIELD_LIMITS["subject"])
        return _Draft(
            at=_utc(self._clock()),
            actor=actor,
            action=action,
            subject=subject,
            outcome=outcome,
            detail=_check_detail(detail),
        )

    async def _write_directly(self, draft: _Draft) -> int:
        try:
            (seq,) = await self._append([draft])
        except Exception as exc:
            raise AuditWriteError("the audit entry could not be written") from exc
        return seq

    async def _run_writer(self) -> None:
        batch: list[_Pending] = []
        try:
            stop = False
            while not stop:
                batch, stop = await self._take_batch()
                await self._flush(batch)
        finally:
            # Matters when the task is cancelled: nobody may wait forever for an entry that is lost.
            _fail(batch + self._drain_queue(), "the audit writer stopped")

    async def _take_batch(self) -> tuple[list[_Pending], bool]:
        """Waits for one entry, then takes whatever else is already queued; True once close() asks."""
        first = await self._queue.get()
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < self._max_batch and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _drain_queue(self) -> list[_Pending]:
        drained: list[_Pending] = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                drained.append(item)
        return drained

    async def _flush(self, batch: list[_Pending]) -> None:
        if not batch:
            return
        try:
            seqs = await self._append([pending.draft for pending in batch])
        except Exception as exc:
            _fail(batch, f"a batch of {len(batch)} audit entries could not be written", exc)
            return
        for pending, seq in zip(batch, seqs, strict=True):
            if not pending.future.done():
                pending.future.set_result(seq)

    async def _append(self, drafts: Sequence[_Draft]) -> list[int]:
        """One transaction: chain and insert the entries, move the head.

        The head this writer last wrote is remembered, so the usual batch is two statements: the head
        moved on only if it is still where we left it (a conditional update, which also takes the
        head's lock until commit), then the entries. When another writer (a second node, a command)
        moved it meanwhile, the head is locked and read, and the batch chained after it.
        On PostgreSQL the usual batch is one statement in one round trip (`_moved_and_inserted`)."""
        rows: list[dict[str, Any]] = []
        if self._head is not None and not self._db.is_sqlite:
            rows = self._chain(drafts, *self._head)
            if await self._moved_and_inserted(rows):
                self._head = (rows[-1]["seq"], rows[-1]["hash"])
                return [row["seq"] for row in rows]
            self._head = None  # another writer moved it: read it under its lock below
        async with self._db.engine.begin() as connection:
            rows = []
            if self._head is not None:
                rows = self._chain(drafts, *self._head)
                moved = cast(CursorResult[Any], await connection.execute(
                    _MOVE_HEAD_IF, {"old_seq": self._head[0], "old_hash": self._head[1],
                                    "seq": rows[-1]["seq"], "hash": rows[-1]["hash"]}))
                if moved.rowcount != 1:
                    rows = []
            if not rows:
                rows = self._chain(drafts, *await self._lock_head(connection))
                await connection.execute(_MOVE_HEAD, {"seq": rows[-1]["seq"], "hash": rows[-1]["hash"]})
            await connection.execute(insert(AuditEntry), rows)
        self._head = (rows[-1]["seq"], rows[-1]["hash"])
        return [row["seq"] for row in rows]

    async def _moved_and_inserted(self, rows: list[dict[str, Any]]) -> bool:
        """PostgreSQL: the head moved from where this writer left it and the entries inserted in one
        statement (a data-modifying WITH), committed on its own: four round trips become one. False,
        with nothing written, when the head is not where it was left."""
        parameters: dict[str, Any] = {"old_seq": self._head[0], "old_hash": self._head[1],  # type: ignore[index]
                                      "seq": rows[-1]["seq"], "hash": rows[-1]["hash"]}
        for number, row in enumerate(rows):
            parameters.update({f"{name}_{number}": row[name] for name in _ENTRY_COLUMNS})
        autocommit = self._db.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with autocommit.connect() as connection:
            result = cast(CursorResult[Any], await connection.execute(_move_and_insert(len(rows)),
                                                                      parameters))
        return result.rowcount == len(rows)

    @staticmethod
    def _chain(drafts: Sequence[_Draft], seq: int, prev_hash: str) -> list[dict[str, Any]]:
        rows = []
        for draft in drafts:
            seq += 1
            row = draft.row(seq)
            row["prev_hash"] = prev_hash
            row["hash"] = prev_hash = chain_hash(prev_hash, row)
            rows.append(row)
        return rows

    async def _lock_head(self, connection: AsyncConnection) -> tuple[int, str]:
        if self._db.is_sqlite:
            # SQLite has no row locks. Writing first takes its single write lock before the head is read
            # (like BEGIN IMMEDIATE), so another process cannot move the head under us.
            head = (await connection.execute(_TOUCH_HEAD_RETURNING)).one_or_none()
        else:
            head = (await connection.execute(_HEAD_FOR_UPDATE)).one_or_none()
        if head is None:
            raise AuditWriteError("the audit head row is missing: run the migrations")
        return head.seq, head.hash

    # Reading -------------------------------------------------------------------------------------------

    async def entries(
        self, *, actor: str | None = None, action: str | None = None, limit: int = 100
    ) -> list[AuditRecord]:
        """The newest entries first, optionally only one actor's or one action's."""
        if not 1 <= limit <= 1000:
            raise ValueError("limit must be between 1 and 1000")
        query = select(*_columns()).order_by(AuditEntry.seq.desc()).limit(limit)
        if actor is not None:
            query = query.where(AuditEntry.actor == actor)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        async with self._db.engine.connect() as connection:
            rows = (await connection.execute(query)).mappings().all()
        return [AuditRecord(**row) for row in rows]

    async def verify(self, checkpoints: CheckpointCheck | None = None) -> VerifyResult:
        """Walks the chain up to the head as it was when the walk began (entries appended meanwhile
        are not judged), then checks that no entry lies outside the chain.

        With `checkpoints`, also judges every signed checkpoint as the walk reaches its entry (its
        signature, and the hash recomputed there against the head it signed), and finally those past
        the head: they were written after the walk began, or the chain lost its end."""
        head = await self._read_head()
        if head is None:
            return VerifyResult(ok=False, checked=0, reason="the audit head row is missing")
        walk = _ChainWalk()
        judge = None if checkpoints is None else _CheckpointJudge(checkpoints)
        if judge is not None:
            await judge.load(self._db, None, 0)
            if broken := judge.reached(0, GENESIS_HASH, 0):
                return broken
        after = 0
        async for page in self._pages(up_to=head[0]):
            if judge is not None:
                after, before = page[-1]["seq"], after
                await judge.load(self._db, before, after)
            for row in page:
                if broken := walk.step(row):
                    return broken
                if judge is not None and (broken := judge.reached(row["seq"], walk.prev_hash, walk.checked)):
                    return broken
        if broken := walk.finish(*head):
            return broken
        if (stray := await self._entry_outside_chain()) is not None:
            reason = f"entry {stray} lies outside the chain"
            return VerifyResult(ok=False, checked=walk.checked, first_bad_seq=stray, reason=reason)
        if judge is None:
            return VerifyResult(ok=True, checked=walk.checked)
        return await self._judge_beyond(judge, head[0], walk.checked)

    async def _judge_beyond(self, judge: _CheckpointJudge, head_seq: int, checked: int) -> VerifyResult:
        """Checkpoints past the head the walk followed. One written since then signed a head that moved
        on after the walk began; one past the head as read now covers entries that are gone."""
        await judge.load(self._db, head_seq, None)
        waiting = judge.pending()
        if waiting:
            now = await self._read_head()
            chain_end = head_seq if now is None else now[0]
            for checkpoint in waiting:
                if broken := judge.beyond(checkpoint, chain_end, checked):
                    return broken
        return judge.result(checked)

    async def _read_head(self) -> tuple[int, str] | None:
        query = select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID)
        async with self._db.engine.connect() as connection:
            head = (await connection.execute(query)).one_or_none()
        return None if head is None else (head.seq, head.hash)

    async def _pages(self, up_to: int) -> AsyncIterator[Sequence[RowMapping]]:
        after = 0
        while after < up_to:
            query = (
                select(*_columns())
                .where(AuditEntry.seq > after, AuditEntry.seq <= up_to)
                .order_by(AuditEntry.seq)
                .limit(self._page_size)
            )
            async with self._db.engine.connect() as connection:
                page = (await connection.execute(query)).mappings().all()
            if not page:
                return
            yield page
            after = page[-1]["seq"]

    async def _entry_outside_chain(self) -> int | None:
        """A seq below 1, or above the head. The range is read before the head: an entry committed in
        between moved the head with it, so only tampering leaves a seq above the head read after."""
        seqs = select(func.min(AuditEntry.seq), func.max(AuditEntry.seq))
        async with self._db.engine.connect() as connection:
            low, high = (await connection.execute(seqs)).one()
        head = await self._read_head()
        if low is None or head is None:
            return None
        if low < 1:
            return int(low)
        if high <= head[0]:
            return None
        beyond = select(func.min(AuditEntry.seq)).where(AuditEntry.seq > head[0])
        async with self._db.engine.connect() as connection:
            first: int | None = (await connection.execute(beyond)).scalar()
        return first


def _entries(first: int, last: int, *, verb: bool = False) -> str:
    """"entry 3" or "entries 3 to 5", followed by "is" or "are" with `verb`."""
    if first == last:
        return f"entry {first}" + (" is" if verb else "")
    return f"entries {first} to {last}" + (" are" if verb else "")


def _columns() -> list[Any]:
    return [getattr(AuditEntry, name) for name in ROW_COLUMNS]


def _fail(batch: Sequence[_Pending], message: str, cause: BaseException | None = None) -> None:
    # One exception object per waiter: each is raised in its own task and gets its own traceback.
    for pending in batch:
        if not pending.future.done():
            error = AuditWriteError(message)
            error.__cause__ = cause
            pending.future.set_exception(error)


async def verify_command(
    database: Database, stdout: TextIO, checkpoints: CheckpointCheck | None = None
) -> int:
    """`xaso audit verify`: 0 and a count when the chain and its signed checkpoints hold, 1 and the
    first problem if not, 2 when there are checkpoints but no public key to check them with. Without
    `checkpoints` there is no key: stored checkpoints then make it 2."""
    result = await AuditLog(database).verify(checkpoints or CheckpointCheck(commune="", keys={}))
    if result.unchecked:
        print(f"audit chain ok: {result.checked} entries", file=stdout)
        print(f"audit checkpoints not verified: {result.reason}", file=stdout)
        return 2
    if not result.ok:
        where = "" if result.first_bad_seq is None else f" at entry {result.first_bad_seq}"
        print(f"audit chain broken{where}: {result.reason}", file=stdout)
        return 1
    print(f"audit chain ok: {result.checked} entries", file=stdout)
    last = result.last_checkpoint
    if last is not None:
        print(f"signed checkpoints ok: {result.checkpoints}; the last, {last.label}, covers entries up to "
              f"{last.seq} ({vietnam_time(last.at)})", file=stdout)
    if result.checked > result.covered_up_to:
        uncovered = _entries(result.covered_up_to + 1, result.checked, verb=True)
        print(f"{uncovered} not yet covered by a checkpoint", file=stdout)
    return 0
