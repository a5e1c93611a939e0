"""Signed checkpoints of the audit chain (core/audit_checkpoints.py) and what `verify` makes of them:
a database writer who rewrites a suffix of the chain and its head passes the bare hash chain, not the
checkpoints; forged checkpoints are refused; deleting a checkpoint alone is no alarm."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy import func, select, update

from core.audit import AuditLog, chain_hash, verify_command
from core.audit_checkpoints import (
    AuditCheckpointRow,
    AuditCheckpoints,
    Checkpoint,
    CheckpointCheck,
    MalformedCheckpoint,
    checkpoint_message,
    latest_checkpoint,
    read_checkpoint_lines,
    read_checkpoints,
    sign_checkpoint,
    write_checkpoint,
)
from core.db import Database
from core.models import AuditEntry, AuditHead
from core.signing import Keyring, create_commune_keys
from core.signing.keys import signing_certificates
from core.signing.raw import key_id
from tests.core.test_audit import StepClock, fill, hold_the_head_longer, run_sql

COMMUNE = "LB"
SIGNED_AT = datetime(2025, 3, 1, 8, 30, 0, 250000, tzinfo=UTC)  # 15:30:00 in Vietnam


class MinuteClock:
    """Checkpoint times: one minute apart, from SIGNED_AT."""

    def __init__(self) -> None:
        self.now = SIGNED_AT - timedelta(minutes=1)

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    create_commune_keys(tmp_path / "keys", "Xã La Bằng")
    return tmp_path / "keys"


@pytest.fixture
def keyring(keys_dir: Path) -> Keyring:
    loaded = Keyring()
    loaded.load(keys_dir)
    return loaded


@pytest.fixture
def check(keys_dir: Path) -> CheckpointCheck:
    return CheckpointCheck.from_certificates(COMMUNE, signing_certificates(keys_dir))


@pytest.fixture
async def chain(database: Database, keyring: Keyring) -> AuditLog:
    """20 entries, signed checkpoints #1 at entry 5, #2 at 12 and #3 at 20 (15:30, 15:31, 15:32)."""
    audit = AuditLog(database, StepClock(), page_size=6)
    clock = MinuteClock()
    for upto in (5, 12, 20):
        for i in range(len(await audit.entries(limit=1000)) + 1, upto + 1):
            await audit.record(f"user:{i}", "chat.message", subject=f"chat:{i}", detail={"i": i})
        await write_checkpoint(database, keyring, COMMUNE, clock=clock)
    return audit


async def rewrite_from(database: Database, audit: AuditLog, seq: int, actor: str = "user:999") -> None:
    """What a database writer can do: edit entry `seq`, recompute every later hash and the head."""
    records = sorted(await audit.entries(limit=1000), key=lambda record: record.seq)
    prev_hash = next(record.prev_hash for record in records if record.seq == seq)
    async with database.engine.begin() as connection:
        for record in records:
            if record.seq < seq:
                continue
            row: dict[str, Any] = {
                "seq": record.seq, "at": record.at, "actor": actor if record.seq == seq else record.actor,
                "action": record.action, "subject": record.subject, "outcome": record.outcome,
                "detail": record.detail,
            }
            new_hash = chain_hash(prev_hash, row)
            await connection.execute(update(AuditEntry).where(AuditEntry.seq == record.seq)
                                     .values(actor=row["actor"], prev_hash=prev_hash, hash=new_hash))
            prev_hash = new_hash
        await connection.execute(update(AuditHead).where(AuditHead.id == 1)
                                 .values(seq=records[-1].seq, hash=prev_hash))


async def entry_hash(database: Database, seq: int) -> str:
    async with database.engine.connect() as connection:
        query = select(AuditEntry.hash).where(AuditEntry.seq == seq)
        found: str = (await connection.execute(query)).scalar_one()
    return found


async def checkpoint_count(database: Database) -> int:
    async with database.engine.connect() as connection:
        query = select(func.count()).select_from(AuditCheckpointRow)
        counted: int = (await connection.execute(query)).scalar_one()
    return counted


async def store(database: Database, checkpoint: Checkpoint) -> None:
    values = checkpoint.to_json()
    del values["format"], values["id"]
    values["at"] = checkpoint.at
    async with database.engine.begin() as connection:
        await connection.execute(AuditCheckpointRow.__table__.insert().values(values))


# Format -----------------------------------------------------------------------------------------------


async def test_a_checkpoint_signs_the_documented_message(
    database: Database, keyring: Keyring, keys_dir: Path
) -> None:
    audit = AuditLog(database, StepClock())
    await fill(audit, 3)
    checkpoint = await write_checkpoint(database, keyring, COMMUNE, clock=lambda: SIGNED_AT)
    assert checkpoint is not None and (checkpoint.id, checkpoint.seq) == (1, 3)
    head = await entry_hash(database, 3)
    message = f"xaso-audit-checkpoint\nLB\n3\n{head}\n2025-03-01T08:30:00.250000+00:00".encode()
    assert checkpoint.head_hash == head and checkpoint.message() == message
    assert checkpoint_message(COMMUNE, 3, head, SIGNED_AT) == message
    # An auditor needs nothing of ours: the certificate's key, ECDSA P-256 with SHA-256, r ‖ s.
    certificate = signing_certificates(keys_dir)[0]
    public = certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and checkpoint.alg == "ES256"
    raw = base64.b64decode(checkpoint.signature)
    public.verify(encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                  message, ec.ECDSA(hashes.SHA256()))
    spki = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert checkpoint.key_id == hashlib.sha256(spki).hexdigest() == key_id(certificate)
    (stored,) = await read_checkpoints(database)
    assert stored == checkpoint and stored.at == SIGNED_AT  # microseconds survive the database


def test_the_json_form_round_trips_and_is_read_strictly(keyring: Keyring) -> None:
    checkpoint = sign_checkpoint(keyring, COMMUNE, 7, "a" * 64, SIGNED_AT)
    line = checkpoint.dumps()
    (again,) = read_checkpoint_lines(f"\n{line}\n\n", "kept.jsonl")
    assert again == checkpoint and again.label == "#0 (from kept.jsonl)"
    data = json.loads(line)
    for change in ({"seq": -1}, {"seq": True}, {"head_hash": "A" * 64}, {"at": "2025-03-01T08:30:00Z"},
                   {"alg": "HS256"}, {"signature": "not base64!"}, {"extra": 1}, {"format": "other"}):
        with pytest.raises(MalformedCheckpoint, match="line 2"):
            read_checkpoint_lines(line + "\n" + json.dumps({**data, **change}), "kept.jsonl")
    with pytest.raises(MalformedCheckpoint, match="line 1"):
        read_checkpoint_lines("{not json", "kept.jsonl")


# Verification ----------------------------------------------------------------------------------------


async def test_a_sound_chain_passes_every_checkpoint(
    database: Database, chain: AuditLog, check: CheckpointCheck
) -> None:
    result = await chain.verify(check)
    assert (result.ok, result.checked, result.checkpoints, result.covered_up_to) == (True, 20, 3, 20)
    assert result.last_checkpoint is not None and result.last_checkpoint.id == 3
    stdout = io.StringIO()
    assert await verify_command(database, stdout, check) == 0
    assert stdout.getvalue() == ("audit chain ok: 20 entries\n"
                                 "signed checkpoints ok: 3; the last, #3, covers entries up to 20 "
                                 "(01/03/2025 15:32:00 Vietnam time)\n")


async def test_entries_after_the_last_checkpoint_are_reported_as_not_yet_covered(
    database: Database, chain: AuditLog, check: CheckpointCheck
) -> None:
    await fill(chain, 3)
    stdout = io.StringIO()
    assert await verify_command(database, stdout, check) == 0  # informational, not a failure
    assert stdout.getvalue().splitlines()[-1] == "entries 21 to 23 are not yet covered by a checkpoint"
    await run_sql(database, "DELETE FROM audit_checkpoints")
    stdout = io.StringIO()
    assert await verify_command(database, stdout, check) == 0
    assert stdout.getvalue() == ("audit chain ok: 23 entries\n"
                                 "entries 1 to 23 are not yet covered by a checkpoint\n")


async def test_a_rewritten_suffix_passes_the_hash_chain_but_not_the_checkpoints(
    database: Database, chain: AuditLog, check: CheckpointCheck
) -> None:
    await rewrite_from(database, chain, 7)
    assert (await chain.verify()).ok  # the old check alone is fooled
    result = await chain.verify(check)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 12, 12)
    assert result.reason == ("the chain differs from signed checkpoint #2 at entry 12; last good checkpoint "
                             "#1 (01/03/2025 15:30:00 Vietnam time) at entry 5, so the change lies in "
                             "entries 6 to 12")
    stdout = io.StringIO()
    assert await verify_command(database, stdout, check) == 1
    assert stdout.getvalue() == f"audit chain broken at entry 12: {result.reason}\n"


async def test_a_rewrite_before_the_first_checkpoint_has_no_good_checkpoint(
    database: Database, chain: AuditLog, check: CheckpointCheck
) -> None:
    await rewrite_from(database, chain, 2)
    result = await chain.verify(check)
    assert result.first_bad_seq == 5
    assert result.reason == ("the chain differs from signed checkpoint #1 at entry 5; no earlier checkpoint "
                             "holds, so the change lies in entries 1 to 5")


async def test_a_rewrite_after_the_last_checkpoint_is_not_caught(
    database: Database, chain: AuditLog, check: CheckpointCheck
) -> None:
    """The limit, as docs/operations.md says: entries are protected once a checkpoint covers them."""
    await fill(chain, 3)
    await rewrite_from(database, chain, 22)
    result = await chain.verify(check)
    assert result.ok and result.covered_up_to == 20 and result.checked == 23


async def test_a_checkpoint_signed_after_a_rewrite_does_not_hide_it(
    database: Database, chain: AuditLog, keyring: Keyring, check: CheckpointCheck
) -> None:
    await rewrite_from(database, chain, 15)
    await fill(chain, 2)
    await write_checkpoint(database, keyring, COMMUNE, clock=lambda: SIGNED_AT + timedelta(hours=1))
    result = await chain.verify(check)
    assert (result.first_bad_seq, result.checkpoints) == (20, 2)
    assert result.reason is not None and "checkpoint #3 at entry 20" in result.reason


# Edits, deletions and reorders keep today's findings --------------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "seq", "reason"),
    [
        ("UPDATE audit_log SET actor = 'user:1' WHERE seq = 9", 9, "entry 9 does not match its hash"),
        ("DELETE FROM audit_log WHERE seq = 9", 9, "entry 9 is missing"),
        ("DELETE FROM audit_log WHERE seq > 17", 18, "entries 18 to 20 are missing (the head is at 20)"),
    ],
)
async def test_edits_and_deletions_are_found_where_they_were_made(
    database: Database, chain: AuditLog, check: CheckpointCheck, tamper: str, seq: int, reason: str
) -> None:
    await run_sql(database, tamper)
    result = await chain.verify(check)
    assert (result.ok, result.first_bad_seq, result.reason) == (False, seq, reason)


async def test_swapped_rows_are_found_at_the_first(
    database: Database, chain: AuditLog, check: CheckpointCheck
) -> None:
    await run_sql(database, "UPDATE audit_log SET seq = -1 WHERE seq = 8",
                  "UPDATE audit_log SET seq = 8 WHERE seq = 10",
                  "UPDATE audit_log SET seq = 10 WHERE seq = -1")
    result = await chain.verify(check)
    assert (result.first_bad_seq, result.reason) == (8, "entry 8 does not link to entry 7")


async def test_a_deleted_checkpoint_row_alone_is_no_alarm(
    database: Database, chain: AuditLog, check: CheckpointCheck
) -> None:
    await run_sql(database, "DELETE FROM audit_checkpoints WHERE id = 2")
    result = await chain.verify(check)
    assert (result.ok, result.checkpoints, result.covered_up_to) == (True, 2, 20)


async def test_deleting_covered_entries_and_rewinding_the_head_is_caught(
    database: Database, chain: AuditLog, check: CheckpointCheck
) -> None:
    await run_sql(database, "DELETE FROM audit_log WHERE seq > 17",
                  "UPDATE audit_head SET seq = 17, hash = :h", h=await entry_hash(database, 17))
    assert (await chain.verify()).ok  # the bare chain cannot tell
    result = await chain.verify(check)
    assert (result.ok, result.first_bad_seq, result.checked) == (False, 18, 17)
    assert result.reason == ("entries 18 to 20 are missing: signed checkpoint #3 covers entry 20 but the "
                             "chain ends at entry 17")


async def test_deleting_the_tail_with_its_checkpoints_needs_a_copy_kept_elsewhere(
    database: Database, chain: AuditLog, check: CheckpointCheck
) -> None:
    (kept,) = [item for item in await read_checkpoints(database) if item.id == 3]
    await run_sql(database, "DELETE FROM audit_log WHERE seq > 17",
                  "DELETE FROM audit_checkpoints WHERE id = 3",
                  "UPDATE audit_head SET seq = 17, hash = :h", h=await entry_hash(database, 17))
    alone = await chain.verify(check)
    assert alone.ok and alone.covered_up_to == 12  # the limit: only the missing checkpoint tells
    copies = read_checkpoint_lines(kept.dumps() + "\n", "kept.jsonl")
    result = await chain.verify(CheckpointCheck(COMMUNE, check.keys, tuple(copies)))
    assert (result.ok, result.first_bad_seq) == (False, 18)
    assert "signed checkpoint #3 (from kept.jsonl) covers entry 20" in str(result.reason)


# Forged checkpoints -----------------------------------------------------------------------------------


async def test_a_checkpoint_with_an_altered_head_is_refused(
    database: Database, chain: AuditLog, check: CheckpointCheck
) -> None:
    # The writer rewrites the suffix and then moves the signed heads along: the signatures no longer fit.
    await rewrite_from(database, chain, 7)
    for seq in (12, 20):
        await run_sql(database, "UPDATE audit_checkpoints SET head_hash = :h WHERE seq = :s",
                      h=await entry_hash(database, seq), s=seq)
    result = await chain.verify(check)
    assert (result.ok, result.first_bad_seq) == (False, None)
    assert result.reason == ("signed checkpoint #2 at entry 12 does not carry a valid signature of the "
                             "commune's key (forged or altered)")
    stdout = io.StringIO()
    assert await verify_command(database, stdout, check) == 1
    assert stdout.getvalue() == f"audit chain broken: {result.reason}\n"


@pytest.mark.parametrize("column", ["seq = 13", "at = '2025-03-01 08:31:00.250001'", "signature = 'AAAA'"])
async def test_any_altered_field_breaks_the_signature(
    database: Database, chain: AuditLog, check: CheckpointCheck, column: str
) -> None:
    await run_sql(database, f"UPDATE audit_checkpoints SET {column} WHERE id = 2")  # noqa: S608
    result = await chain.verify(check)
    assert not result.ok and result.reason is not None and "#2" in result.reason
    assert "does not carry a valid signature" in result.reason


async def test_a_checkpoint_for_another_commune_is_refused(
    database: Database, chain: AuditLog, check: CheckpointCheck
) -> None:
    await run_sql(database, "UPDATE audit_checkpoints SET commune = 'XY' WHERE id = 1")
    result = await chain.verify(check)
    assert result.reason == "signed checkpoint #1 at entry 5 is for the commune XY, not LB"


async def test_a_checkpoint_signed_with_another_key_is_refused(
    database: Database, chain: AuditLog, check: CheckpointCheck, tmp_path: Path
) -> None:
    await rewrite_from(database, chain, 7)
    other = Keyring()
    create_commune_keys(tmp_path / "other", "Xã Giả")
    other.load(tmp_path / "other")
    forged = sign_checkpoint(other, COMMUNE, 12, await entry_hash(database, 12), SIGNED_AT)
    await run_sql(database, "DELETE FROM audit_checkpoints WHERE id > 1")
    await store(database, forged)
    result = await chain.verify(check)
    assert result.reason is not None and result.reason.startswith(
        "signed checkpoint #4 at entry 12 names a key that is not the commune's (key id ")
    # Claiming the commune's key id does not help: the signature is not that key's.
    await run_sql(database, "UPDATE audit_checkpoints SET key_id = :k WHERE id = 4", k=next(iter(check.keys)))
    result = await chain.verify(check)
    assert result.reason is not None and "#4 at entry 12 does not carry a valid signature" in result.reason


async def test_checkpoints_signed_before_a_key_change_still_verify(
    database: Database, chain: AuditLog, keys_dir: Path
) -> None:
    create_commune_keys(keys_dir, "Xã La Bằng", force=True)  # the old certificate moves to retired/
    renewed = Keyring()
    renewed.load(keys_dir)
    await fill(chain, 1)
    await write_checkpoint(database, renewed, COMMUNE)
    check = CheckpointCheck.from_certificates(COMMUNE, signing_certificates(keys_dir))
    result = await chain.verify(check)
    assert (result.ok, result.checkpoints, result.covered_up_to) == (True, 4, 21)
    only_new = CheckpointCheck.from_certificates(COMMUNE, signing_certificates(keys_dir)[:1])
    assert "names a key that is not the commune's" in str((await chain.verify(only_new)).reason)


async def test_checkpoints_without_a_key_to_check_them_are_not_a_pass(
    database: Database, chain: AuditLog
) -> None:
    stdout = io.StringIO()
    assert await verify_command(database, stdout) == 2
    assert stdout.getvalue() == (
        "audit chain ok: 20 entries\n"
        "audit checkpoints not verified: 3 signed checkpoint(s) cannot be checked: no certificate of the "
        "commune's signing key (run this where XASO_VAR_DIR/keys is, or pass --cert)\n")


async def test_an_empty_log_can_be_checkpointed(
    database: Database, keyring: Keyring, check: CheckpointCheck
) -> None:
    checkpoint = await write_checkpoint(database, keyring, COMMUNE)
    assert checkpoint is not None and (checkpoint.seq, checkpoint.head_hash) == (0, "0" * 64)
    result = await AuditLog(database).verify(check)
    assert (result.ok, result.checkpoints) == (True, 1)
    await run_sql(database, "UPDATE audit_checkpoints SET head_hash = :h", h="1" * 64)
    assert not (await AuditLog(database).verify(check)).ok


# Writing: at intervals when the chain moved, and on shutdown -------------------------------------------


async def test_only_a_moved_chain_is_checkpointed(database: Database, keyring: Keyring) -> None:
    writer = AuditCheckpoints(database, keyring, COMMUNE, interval=60)
    assert await writer.write_if_moved() is None  # an empty log
    audit = AuditLog(database)
    await fill(audit, 2)
    first = await writer.write_if_moved()
    assert first is not None and first.seq == 2
    assert await writer.write_if_moved() is None
    await fill(audit, 1)
    second = await writer.write_if_moved()
    assert second is not None and (second.id, second.seq) == (first.id + 1, 3)


async def test_the_interval_task_writes_when_the_chain_moved_and_stops(
    database: Database, keyring: Keyring
) -> None:
    writer = AuditCheckpoints(database, keyring, COMMUNE, interval=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(writer.run(stop))
    audit = AuditLog(database)
    try:
        await asyncio.sleep(0.1)
        assert await checkpoint_count(database) == 0  # nothing to sign yet
        await fill(audit, 3)  # three transactions: an interval may fall between them
        await wait_for_checkpoint_of(database, 3)
        written = await checkpoint_count(database)
        await asyncio.sleep(0.1)  # several more intervals: the chain did not move
        assert await checkpoint_count(database) == written
        await fill(audit, 1)
        await wait_for_checkpoint_of(database, 4)
        assert await checkpoint_count(database) == written + 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 1)


async def wait_for_checkpoint_of(database: Database, seq: int, seconds: float = 5) -> None:
    """Polls until a checkpoint covers entry `seq`; fails after `seconds`."""
    for _ in range(int(seconds / 0.01)):
        latest = await latest_checkpoint(database)
        if latest is not None and latest.seq >= seq:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"no checkpoint of entry {seq} within {seconds} s")


async def test_close_signs_the_last_entries_once_they_are_written(
    database: Database, keyring: Keyring
) -> None:
    audit = AuditLog(database, checkpoints=AuditCheckpoints(database, keyring, COMMUNE, interval=3600))
    await audit.start()
    waiting = [asyncio.create_task(audit.record("system", "tick")) for _ in range(30)]
    await asyncio.sleep(0)
    await audit.close()
    assert all(task.done() for task in waiting)
    latest = await latest_checkpoint(database)
    assert latest is not None and (latest.id, latest.seq) == (1, 30)
    await audit.start()
    await audit.close()  # nothing new: no second checkpoint
    assert await checkpoint_count(database) == 1


async def test_without_signing_keys_nothing_is_signed_and_a_warning_says_so(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    audit = AuditLog(database, checkpoints=AuditCheckpoints(database, Keyring(), COMMUNE))
    await audit.start()
    await audit.record("system", "tick")
    with caplog.at_level(logging.WARNING, logger="core.audit_checkpoints"):
        await audit.close()
    assert await checkpoint_count(database) == 0
    assert "not checkpointed" in caplog.text


# Several nodes on one database ------------------------------------------------------------------------


async def test_two_nodes_checkpointing_concurrently_all_write_valid_checkpoints(
    database: Database, keyring: Keyring, check: CheckpointCheck, monkeypatch: pytest.MonkeyPatch
) -> None:
    other_database = Database(database.url)  # its own engine and pool, as another process has
    nodes = ((AuditLog(database), database), (AuditLog(other_database), other_database))
    written: list[Checkpoint | None] = []

    async def node_work(audit: AuditLog, db: Database, node: int) -> None:
        for wave in range(6):
            await asyncio.gather(*(audit.record(f"node:{node}", "chat.message", detail={"wave": wave})
                                   for _ in range(5)))
            written.append(await write_checkpoint(db, keyring, COMMUNE))

    try:
        for audit, _ in nodes:
            hold_the_head_longer(audit, monkeypatch)
            await audit.start()
        await asyncio.gather(*(node_work(audit, db, n) for n, (audit, db) in enumerate(nodes)))
    finally:
        for audit, _ in nodes:
            await audit.close()
        await other_database.close()
    assert len(written) == 12 and all(item is not None for item in written)
    result = await nodes[0][0].verify(check)
    assert (result.ok, result.checked, result.checkpoints, result.covered_up_to) == (True, 60, 12, 60)


def test_the_interval_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from core.config import Settings

    monkeypatch.delenv("XASO_AUDIT_CHECKPOINT_SECONDS", raising=False)
    assert Settings(_env_file=None).audit_checkpoint_seconds == 300
    monkeypatch.setenv("XASO_AUDIT_CHECKPOINT_SECONDS", "60")
    assert Settings(_env_file=None).audit_checkpoint_seconds == 60
    monkeypatch.setenv("XASO_AUDIT_CHECKPOINT_SECONDS", "0")
    with pytest.raises(ValidationError):
        Settings(_env_file=None)
