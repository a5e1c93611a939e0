from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit import AuditLog, AuditWriteError, pseudonym, verify_command
from core.db import Database

START = datetime(2025, 3, 1, 8, 30, 0, 123456, tzinfo=UTC)


class StepClock:
    """A clock that moves one millisecond per reading."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
async def log(database: Database) -> AsyncIterator[AuditLog]:
    audit = AuditLog(database, StepClock(), page_size=7)
    await audit.start()
    try:
        yield audit
    finally:
        await audit.close()


async def fill(audit: AuditLog, count: int) -> None:
    for i in range(1, count + 1):
        await audit.record(f"user:{i}", "chat.message", subject=f"chat:{i}", detail={"i": i})


async def run_sql(database: Database, *statements: str, **params: Any) -> None:
    async with database.engine.begin() as connection:
        for statement in statements:
            await connection.execute(text(statement), params)


async def commits_during(database: Database, action: Callable[[], Any]) -> int:
    commits: list[object] = []

    def count(connection: object) -> None:
        commits.append(connection)

    event.listen(database.engine.sync_engine, "commit", count)
    try:
        await action()
    finally:
        event.remove(database.engine.sync_engine, "commit", count)
    return len(commits)


# Format -----------------------------------------------------------------------------------------------


async def test_entry_hash_follows_the_documented_formula(database: Database) -> None:
    audit = AuditLog(database, lambda: START)
    seq = await audit.record(
        "user:42",
        "dossier.submit",
        subject="dossier:LB-7",
        outcome="ok",
        detail={"thủ_tục": "khai_sinh", "pages": 2, "paid": True, "fee": 1.5},
    )
    assert seq == 1
    (entry,) = await audit.entries()
    body = {
        "seq": 1,
        "at": "2025-03-01T08:30:00.123456+00:00",
        "actor": "user:42",
        "action": "dossier.submit",
        "subject": "dossier:LB-7",
        "outcome": "ok",
        "detail": {"thủ_tục": "khai_sinh", "pages": 2, "paid": True, "fee": 1.5},
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert entry.prev_hash == "0" * 64
    assert entry.hash == hashlib.sha256(("0" * 64 + canonical).encode("utf-8")).hexdigest()
    assert entry.at == START and entry.detail == body["detail"]


async def test_a_clock_in_another_time_zone_is_stored_as_utc(database: Database) -> None:
    hanoi = START.astimezone(timezone(timedelta(hours=7)))
    audit = AuditLog(database, lambda: hanoi)
    await audit.record("system", "boot")
    (entry,) = await audit.entries()
    assert entry.at == START and entry.at.utcoffset() == timedelta(0)
    assert (await audit.verify()).ok


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"detail": {"text": "xin chào bạn Lan"}}, ValueError),  # free text
        ({"detail": {"contact": {"phone": "0912"}}}, TypeError),
        ({"detail": {"ratio": float("nan")}}, ValueError),
        ({"detail": {f"k{i}": i for i in range(17)}}, ValueError),
        ({"subject": "Nguyễn Văn A"}, ValueError),
        ({"subject": ""}, ValueError),
        ({"outcome": "x" * 17}, ValueError),
    ],
)
async def test_entries_that_could_carry_personal_data_are_refused(
    database: Database, arguments: dict[str, Any], error: type[Exception]
) -> None:
    audit = AuditLog(database)
    with pytest.raises(error):
        await audit.record("user:1", "chat.message", **arguments)
    assert await audit.entries() == []


async def test_a_naive_clock_is_refused(database: Database) -> None:
    audit = AuditLog(database, lambda: datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        await audit.record("system", "boot")


def test_pseudonym_is_keyed_stable_and_hides_the_value() -> None:
    phone = "0912345678"
    first = pseudonym(phone, b"key-1")
    assert first == pseudonym(phone, b"key-1")
    assert first != pseudonym(phone, b"key-2") != pseudonym("0912345679", b"key-1")
    assert len(first) == 32 and int(first, 16) >= 0 and phone not in first
    with pytest.raises(ValueError):
        pseudonym(phone, b"")


# Appending --------------------------------------------------------------------------------------------


async def test_a_chain_of_several_hundred_entries_verifies(log: AuditLog) -> None:
    await fill(log, 150)
    await asyncio.gather(*(log.record("system", "tick", detail={"n": n}) for n in range(150)))
    result = await log.verify()
    assert result.ok and result.checked == 300
    assert result.first_bad_seq is None and result.reason is None


async def test_concurrent_records_get_seqs_without_gaps_in_few_transactions(
    database: Database, log: AuditLog
) -> None:
    seqs: list[int] = []

    async def burst() -> None:
        seqs.extend(await asyncio.gather(*(log.record(f"user:{i}", "chat.message") for i in range(200))))

    commits = await commits_during(database, burst)
    assert sorted(seqs) == list(range(1, 201))
    assert commits <= 10  # group commit: one transaction per batch, not per entry
    assert (await log.verify()).checked == 200


def hold_the_head_longer(audit: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keeps each batch transaction open a little after the head is locked, so that two writers
    certainly overlap: without the lock both would read the same head and fork the chain."""
    lock_head = audit._lock_head

    async def lock_then_linger(connection: AsyncConnection) -> tuple[int, str]:
        head = await lock_head(connection)
        await asyncio.sleep(0.005)
        return head

    monkeypatch.setattr(audit, "_lock_head", lock_then_linger)


async def test_two_logs_on_one_database_keep_one_chain(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_database = Database(database.url)  # its own engine and pool, as another process has
    logs = (AuditLog(database), AuditLog(other_database))
    seqs: list[int] = []
    try:
        for audit in logs:
            hold_the_head_longer(audit, monkeypatch)
            await audit.start()
        for wave in range(10):
            calls = [
                audit.record(f"user:{wave}", "chat.message", detail={"node": n})
                for _ in range(10)
                for n, audit in enumerate(logs)
            ]
            seqs += await asyncio.gather(*calls)
    finally:
        for audit in logs:
            await audit.close()
        await other_database.close()
    assert sorted(seqs) == list(range(1, 201))
    result = await logs[0].verify()
    assert result.ok and result.checked == 200
    assert {entry.detail["node"] for entry in await logs[0].entries(limit=200)} == {0, 1}


async def test_a_lone_writer_moves_the_head_it_remembers_in_one_or_two_statements(
    database: Database, log: AuditLog
) -> None:
    await log.record("user:1", "chat.message")  # the first batch reads the head
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split()[0])

    event.listen(database.engine.sync_engine, "before_cursor_execute", seen)
    try:
        await log.record("user:1", "chat.message")
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", seen)
    # PostgreSQL: one statement moving the head and inserting (WITH … UPDATE … INSERT), no BEGIN/COMMIT.
    assert statements == (["UPDATE", "INSERT"] if database.is_sqlite else ["WITH"])
    assert (await log.verify()).checked == 2


async def test_a_head_moved_by_another_writer_is_read_again(database: Database) -> None:
    first, second = AuditLog(database), AuditLog(database)
    assert await first.record("user:1", "chat.message") == 1
    assert await second.record("user:2", "chat.message") == 2  # first's remembered head is stale now
    assert await first.record("user:1", "chat.message") == 3
    result = await first.verify()
    assert result.ok and result.checked == 3


async def test_close_writes_what_is_queued_and_later_records_still_work(database: Database) -> None:
    audit = AuditLog(database)
    await audit.start()
    waiting = [asyncio.create_task(audit.record("system", "tick")) for _ in range(50)]
    await asyncio.sleep(0)
    await audit.close()
    assert all(task.done() for task in waiting)
    assert sorted(task.result() for task in waiting) == list(range(1, 51))
    assert await audit.record("cli", "audit.verify") == 51  # no writer: its own transaction


async def test_entries_are_newest_first_and_filtered(log: AuditLog) -> None:
    await fill(log, 5)
    await log.record("staff:9", "role.check", outcome="deny", subject="cmd:approve")
    newest = await log.entries(limit=3)
    assert [entry.seq for entry in newest] == [6, 5, 4]
    denied = await log.entries(actor="staff:9")
    assert [(entry.action, entry.outcome) for entry in denied] == [("role.check", "deny")]
    assert [entry.seq for entry in await log.entries(action="chat.message")] == [5, 4, 3, 2, 1]
    with pytest.raises(ValueError):
        await log.entries(limit=0)


# Failures surface -------------------------------------------------------------------------------------


async def plant_conflicting_row(database: Database, seq: int) -> None:
    await run_sql(
        database,
        "INSERT INTO audit_log (seq, at, actor, action, subject, outcome, detail, "
        "prev_hash, hash) VALUES (:seq, '2025-01-01 00:00:00.000000', 'x', 'x', NULL, 'ok', '{}', "
        "'', '')",
        seq=seq,
    )


async def test_a_failed_batch_raises_in_every_caller_and_the_writer_carries_on(
    database: Database, log: AuditLog
) -> None:
    await fill(log, 3)
    await plant_conflicting_row(database, 4)
    results = await asyncio.gather(*(log.record("system", "tick") for _ in range(10)), return_exceptions=True)
    assert all(isinstance(result, AuditWriteError) for result in results)
    assert all(result.__cause__ is not None for result in results if isinstance(result, BaseException))
    await run_sql(database, "DELETE FROM audit_log WHERE seq = 4")
    assert await log.record("system", "tick") == 4
    assert (await log.verify()).checked == 4


async def test_a_failed_direct_write_raises(database: Database) -> None:
    await plant_conflicting_row(database, 1)
    with pytest.raises(AuditWriteError):
        await AuditLog(database).record("cli", "user.grant")


async def test_an_unreachable_database_makes_record_raise() -> None:
    database = Database("postgresql+asyncpg://xaso:xaso@127.0.0.1:9/xaso")  # nothing listens on port 9
    audit = AuditLog(database)
    await audit.start()
    try:
        with pytest.raises(AuditWriteError) as raised:
            await audit.record("system", "boot")
        assert raised.value.__cause__ is not None  # the driver's own error, kept for the log
    finally:
        await audit.close()
        await database.close()


async def test_waiters_are_failed_when_the_writer_is_cancelled(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = AuditLog(database)

    async def never_commits(drafts: object) -> list[int]:
        await asyncio.Event().wait()
        return []

    monkeypatch.setattr(audit, "_append", never_commits)
    await audit.start()
    waiting = [asyncio.create_task(audit.record("system", "tick")) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert audit._writer is not None
    audit._writer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await audit.close()
    for task in waiting:
        with pytest.raises(AuditWriteError, match="writer stopped"):
            await task


# Tampering --------------------------------------------------------------------------------------------


@pytest.fixture
async def chain(database: Database) -> AuditLog:
    audit = AuditLog(database, StepClock(), page_size=6)
    await audit.start()
    await fill(audit, 20)
    await audit.close()
    assert (await audit.verify()).ok
    return audit


@pytest.mark.parametrize(
    "change",
    [
        "detail = '{\"i\": 700}'",
        "actor = 'user:1'",
        "subject = NULL",
        "outcome = 'deny'",
        "action = 'x'",
    ],
)
async def test_an_edited_entry_is_found_where_it_was_edited(
    database: Database, chain: AuditLog, change: str
) -> None:
    await run_sql(database, f"UPDATE audit_log SET {change} WHERE seq = 7")  # noqa: S608
    result = await chain.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 7, 6)
    assert result.reason == "entry 7 does not match its hash"


async def test_an_edited_and_rehashed_entry_breaks_the_link_of_the_next_one(
    database: Database, chain: AuditLog
) -> None:
    # Whoever recomputes the hash of the entry they edit moves the break to the following entry.
    (entry,) = [e for e in await chain.entries(limit=20) if e.seq == 7]
    forged = {
        "seq": 7,
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor": "user:1",
        "action": entry.action,
        "subject": entry.subject,
        "outcome": entry.outcome,
        "detail": entry.detail,
    }
    body = json.dumps(forged, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    new_hash = hashlib.sha256((entry.prev_hash + body).encode()).hexdigest()
    await run_sql(database, "UPDATE audit_log SET actor = 'user:1', hash = :h WHERE seq = 7", h=new_hash)
    result = await chain.verify()
    assert (result.first_bad_seq, result.reason) == (8, "entry 8 does not link to entry 7")


async def test_a_deleted_entry_is_reported_at_its_own_seq(database: Database, chain: AuditLog) -> None:
    await run_sql(database, "DELETE FROM audit_log WHERE seq = 7")
    result = await chain.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 7, 6)
    assert result.reason == "entry 7 is missing"


async def test_a_deletion_hidden_by_renumbering_is_found(database: Database, chain: AuditLog) -> None:
    await run_sql(database, "DELETE FROM audit_log WHERE seq = 7", "UPDATE audit_head SET seq = 19")
    for seq in range(8, 21):
        await run_sql(database, "UPDATE audit_log SET seq = :new WHERE seq = :old", new=seq - 1, old=seq)
    result = await chain.verify()
    assert (result.first_bad_seq, result.reason) == (7, "entry 7 does not link to entry 6")


async def test_deleted_last_entries_disagree_with_the_head(database: Database, chain: AuditLog) -> None:
    await run_sql(database, "DELETE FROM audit_log WHERE seq > 17")
    result = await chain.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 18, 17)
    assert result.reason == "entries 18 to 20 are missing (the head is at 20)"


async def test_an_emptied_log_disagrees_with_the_head(database: Database, chain: AuditLog) -> None:
    await run_sql(database, "DELETE FROM audit_log")
    result = await chain.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 1, 0)


async def test_a_head_with_a_wrong_hash_is_found(database: Database, chain: AuditLog) -> None:
    await run_sql(database, "UPDATE audit_head SET hash = :h", h="f" * 64)
    result = await chain.verify()
    assert (result.first_bad_seq, result.reason) == (20, "the head does not match entry 20")


async def test_entries_beyond_a_rewound_head_are_found(database: Database, chain: AuditLog) -> None:
    entry = (await chain.entries(limit=3))[2]
    assert entry.seq == 18
    await run_sql(database, "UPDATE audit_head SET seq = 18, hash = :h", h=entry.hash)
    result = await chain.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 19, 18)
    assert result.reason == "entry 19 lies outside the chain"


async def test_a_row_slipped_in_before_the_first_entry_is_found(database: Database, chain: AuditLog) -> None:
    columns = "at, actor, action, subject, outcome, detail, prev_hash, hash"
    await run_sql(
        database,
        f"INSERT INTO audit_log (seq, {columns}) SELECT 0, {columns} FROM audit_log WHERE seq = 1",  # noqa: S608
    )
    result = await chain.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 0, 20)
    assert result.reason == "entry 0 lies outside the chain"


async def test_two_swapped_rows_are_found_at_the_first(database: Database, chain: AuditLog) -> None:
    await run_sql(
        database,
        "UPDATE audit_log SET seq = -1 WHERE seq = 5",
        "UPDATE audit_log SET seq = 5 WHERE seq = 12",
        "UPDATE audit_log SET seq = 12 WHERE seq = -1",
    )
    result = await chain.verify()
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 5, 4)
    assert result.reason == "entry 5 does not link to entry 4"


async def test_swapped_contents_under_kept_hashes_are_found_at_the_first(
    database: Database, chain: AuditLog
) -> None:
    columns = ["at", "actor", "action", "subject", "outcome", "detail"]
    # detail is read as text: asyncpg hands JSON back decoded but accepts it only encoded
    query = text(
        "SELECT at, actor, action, subject, outcome, CAST(detail AS TEXT) AS detail "
        "FROM audit_log WHERE seq = :s"
    )
    assignments = ", ".join(f"{column} = :{column}" for column in columns)
    async with database.engine.begin() as connection:
        rows = {seq: (await connection.execute(query, {"s": seq})).mappings().one() for seq in (5, 12)}
        for seq, other in ((5, rows[12]), (12, rows[5])):
            await connection.execute(
                text(f"UPDATE audit_log SET {assignments} WHERE seq = :s"),  # noqa: S608
                {**other, "s": seq},
            )
    result = await chain.verify()
    assert (result.first_bad_seq, result.reason) == (5, "entry 5 does not match its hash")


# Command line -----------------------------------------------------------------------------------------


async def test_verify_command_on_an_empty_log(database: Database) -> None:
    stdout = io.StringIO()
    assert await verify_command(database, stdout) == 0
    assert stdout.getvalue() == "audit chain ok: 0 entries\n"


async def test_verify_command_reports_a_sound_chain(database: Database, chain: AuditLog) -> None:
    stdout = io.StringIO()
    assert await verify_command(database, stdout) == 0
    # Informational: no signed checkpoint covers them yet (tests/core/test_audit_checkpoints.py).
    assert stdout.getvalue() == ("audit chain ok: 20 entries\n"
                                 "entries 1 to 20 are not yet covered by a checkpoint\n")


async def test_verify_command_reports_the_first_broken_entry(database: Database, chain: AuditLog) -> None:
    await run_sql(database, "DELETE FROM audit_log WHERE seq IN (9, 15)")
    stdout = io.StringIO()
    assert await verify_command(database, stdout) == 1
    assert stdout.getvalue() == "audit chain broken at entry 9: entry 9 is missing\n"


async def test_verify_command_reports_a_missing_head(database: Database, chain: AuditLog) -> None:
    await run_sql(database, "DELETE FROM audit_head")
    stdout = io.StringIO()
    assert await verify_command(database, stdout) == 1
    assert stdout.getvalue() == "audit chain broken: the audit head row is missing\n"
