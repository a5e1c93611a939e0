"""Signed checkpoints of the audit log: the chain's head, signed now and then with the commune's key.

A hash chain alone does not stop someone who can write the database: they edit an entry, recompute
every later hash and the head, and the chain verifies. A checkpoint is the head ``(seq, hash)`` as read
in one transaction, signed with the commune's signing key (ES256 or RS256, core/signing/raw.py) over

    xaso-audit-checkpoint\\n<commune>\\n<seq>\\n<head hash>\\n<time>

where ``commune`` is ``XASO_COMMUNE_CODE``, ``seq`` the last entry's number in decimal (0 for an empty
log), ``head hash`` its 64 hex digits and ``time`` ISO 8601 UTC with microseconds, written as the
entries' ``at`` is (``2026-03-01T08:30:00.123456+00:00``). The private key lives in ``XASO_VAR_DIR/keys``,
not in the database, so a database writer cannot make a checkpoint; `core.audit` checks every one
against the chain it recomputes. What they do not guarantee is in docs/operations.md, "Audit".

The server writes one every ``XASO_AUDIT_CHECKPOINT_SECONDS`` when the chain moved, and one on
shutdown; ``xaso audit checkpoint`` writes one by hand. Nodes sharing one database each write theirs:
every checkpoint signs a head that was true when it was read, so concurrent ones are all valid.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TextIO

from cryptography import x509
from sqlalchemy import BigInteger, Index, Integer, String, Text, func, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Database
from core.models import AuditHead, Base, UTCDateTime, utcnow
from core.signing.keys import Keyring
from core.signing.raw import ALGORITHMS, PublicKey, key_id, sign_bytes, verify_bytes
from core.timezones import VIETNAM

log = logging.getLogger(__name__)

FORMAT = "xaso-audit-checkpoint/1"  # the JSON form printed by `xaso audit checkpoint`
MESSAGE_PREFIX = "xaso-audit-checkpoint"
HEAD_ID = 1
DEFAULT_INTERVAL = 300.0
HASH_PATTERN = re.compile(r"[0-9a-f]{64}")
COMMUNE_PATTERN = re.compile(r"[A-Z]{2,4}")
JSON_FIELDS = {"format", "id", "commune", "seq", "head_hash", "at", "key_id", "alg", "signature"}


class CheckpointError(RuntimeError):
    """A checkpoint cannot be written now (no signing key, no audit head)."""


class MalformedCheckpoint(ValueError):
    """Not a checkpoint in the JSON form: wrong shape, types or encodings."""


class AuditCheckpointRow(Base):
    __tablename__ = "audit_checkpoints"
    # AUTOINCREMENT on SQLite too: a checkpoint's number is never given again, even after a deletion.
    __table_args__ = (Index("ix_audit_checkpoints_seq", "seq"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger)  # the last entry covered: the head's seq when read
    head_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    commune: Mapped[str] = mapped_column(String(8))
    key_id: Mapped[str] = mapped_column(String(64))  # SHA-256 of the signing key's SubjectPublicKeyInfo
    alg: Mapped[str] = mapped_column(String(8))
    signature: Mapped[str] = mapped_column(Text)  # base64


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def vietnam_time(at: datetime) -> str:
    return f"{at.astimezone(VIETNAM):%d/%m/%Y %H:%M:%S} Vietnam time"


def checkpoint_message(commune: str, seq: int, head_hash: str, at: datetime) -> bytes:
    """The exact bytes a checkpoint's signature covers."""
    return f"{MESSAGE_PREFIX}\n{commune}\n{seq}\n{head_hash}\n{format_time(at)}".encode("ascii")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    id: int
    seq: int
    head_hash: str
    at: datetime
    commune: str
    key_id: str
    alg: str
    signature: str  # base64
    source: str = field(default="", compare=False)  # where a copy kept elsewhere was read from

    @property
    def label(self) -> str:
        return f"#{self.id}" + (f" (from {self.source})" if self.source else "")

    def message(self) -> bytes:
        return checkpoint_message(self.commune, self.seq, self.head_hash, self.at)

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT, "id": self.id, "commune": self.commune, "seq": self.seq,
                "head_hash": self.head_hash, "at": format_time(self.at), "key_id": self.key_id,
                "alg": self.alg, "signature": self.signature}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), separators=(",", ":"))

    @classmethod
    def from_json(cls, data: Any, source: str = "") -> Checkpoint:
        """Raises `MalformedCheckpoint`: a copy kept elsewhere is read as strictly as it was written."""
        if not isinstance(data, dict) or set(data) != JSON_FIELDS or data["format"] != FORMAT:
            raise MalformedCheckpoint(f"not a checkpoint ({FORMAT} with the fields {sorted(JSON_FIELDS)})")
        for name in ("id", "seq"):
            if type(data[name]) is not int or data[name] < 0:
                raise MalformedCheckpoint(f"{name} must be a whole number")
        texts = {name: data[name] for name in ("commune", "head_hash", "at", "key_id", "alg", "signature")}
        if not all(isinstance(value, str) for value in texts.values()):
            raise MalformedCheckpoint("commune, head_hash, at, key_id, alg and signature must be texts")
        if not HASH_PATTERN.fullmatch(texts["head_hash"]) or not HASH_PATTERN.fullmatch(texts["key_id"]):
            raise MalformedCheckpoint("head_hash and key_id must be 64 lowercase hex digits")
        if texts["alg"] not in ALGORITHMS or not COMMUNE_PATTERN.fullmatch(texts["commune"]):
            raise MalformedCheckpoint("unknown algorithm or commune code")
        try:
            at = datetime.fromisoformat(texts["at"])
            base64.b64decode(texts["signature"], validate=True)
        except (ValueError, binascii.Error):
            raise MalformedCheckpoint("bad time or signature encoding") from None
        if at.tzinfo is None or format_time(at) != texts["at"]:
            raise MalformedCheckpoint("the time must be ISO 8601 UTC with microseconds")
        return cls(id=data["id"], seq=data["seq"], head_hash=texts["head_hash"], at=at,
                   commune=texts["commune"], key_id=texts["key_id"], alg=texts["alg"],
                   signature=texts["signature"], source=source)


def read_checkpoint_lines(text: str, source: str) -> list[Checkpoint]:
    """Checkpoints kept elsewhere: one JSON object a line, as `xaso audit checkpoint` prints them
    (blank lines are skipped). Raises `MalformedCheckpoint` naming the line."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            found.append(Checkpoint.from_json(json.loads(line), source))
        except (ValueError, RecursionError) as problem:
            raise MalformedCheckpoint(f"{source}, line {number}: {problem}") from None
    return found


def sign_checkpoint(keyring: Keyring, commune: str, seq: int, head_hash: str, at: datetime) -> Checkpoint:
    """A checkpoint (id 0 until stored) of the head ``(seq, head_hash)`` at `at`. The certificate's
    validity is not checked: the key still proves who wrote the checkpoint after its certificate
    expires, and the chain stays protected until an operator renews it."""
    if keyring.signer is None:
        raise CheckpointError("no signing keys: run `xaso keys init`")
    key = keyring.signer.key
    alg, signature = sign_bytes(key, checkpoint_message(commune, seq, head_hash, at))
    return Checkpoint(id=0, seq=seq, head_hash=head_hash, at=at, commune=commune, key_id=key_id(key), alg=alg,
                      signature=base64.b64encode(signature).decode("ascii"))


# ---------------------------------------------------------------------------------------------------
# Writing


async def write_checkpoint(database: Database, keyring: Keyring, commune: str, *,
                           clock: Callable[[], datetime] = utcnow,
                           only_if_moved: bool = False) -> Checkpoint | None:
    """Signs the head as read in one transaction and stores the checkpoint. With `only_if_moved`,
    nothing is written (None) when the log is empty or no entry was appended since the newest
    checkpoint, whichever node wrote it."""
    if keyring.signer is None:
        raise CheckpointError("no signing keys: run `xaso keys init`")
    async with database.engine.begin() as connection:
        head = (await connection.execute(
            select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == HEAD_ID))).one_or_none()
        if head is None:
            raise CheckpointError("the audit head row is missing: run `xaso db upgrade`")
        newest = (await connection.execute(select(func.max(AuditCheckpointRow.seq)))).scalar()
    if only_if_moved and (head.seq == 0 or (newest is not None and newest >= head.seq)):
        return None
    at = clock()
    if at.tzinfo is None:
        raise ValueError("the checkpoint clock must return an aware datetime")
    checkpoint = sign_checkpoint(keyring, commune, head.seq, head.hash, at.astimezone(UTC))
    values = checkpoint.to_json()
    values.pop("format")
    values.pop("id")
    values["at"] = checkpoint.at
    async with database.engine.begin() as connection:
        new_id = (await connection.execute(
            insert(AuditCheckpointRow).values(values).returning(AuditCheckpointRow.id))).scalar_one()
    return replace(checkpoint, id=new_id)


class AuditCheckpoints:
    """The server's checkpoints: `run` writes one every `interval` seconds when the chain moved, until
    `stop` is set; `AuditLog.close` calls `write_if_moved` once its last entries are written."""

    def __init__(self, database: Database, keyring: Keyring, commune: str,
                 interval: float = DEFAULT_INTERVAL, clock: Callable[[], datetime] = utcnow) -> None:
        if interval <= 0:
            raise ValueError("the checkpoint interval must be positive")
        self._db = database
        self._keyring = keyring
        self._commune = commune
        self._clock = clock
        self.interval = interval
        self._warned = False

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
                return
            await self.write_if_moved("interval")

    async def write_if_moved(self, why: str = "interval") -> Checkpoint | None:
        """Never raises: a checkpoint that cannot be written now is logged, and the next one covers
        what this one would have."""
        if self._keyring.signer is None:
            if not self._warned:
                log.warning("no signing keys: the audit log is not checkpointed (run `xaso keys init`)")
                self._warned = True
            return None
        try:
            checkpoint = await write_checkpoint(self._db, self._keyring, self._commune, clock=self._clock,
                                                only_if_moved=True)
        except Exception:
            log.exception("the audit checkpoint (%s) could not be written", why)
            return None
        if checkpoint is not None:
            # The system log keeps a copy outside the database (docs/operations.md, "Audit").
            log.info("audit checkpoint #%d (%s) signed entry %d, head %s", checkpoint.id, why,
                     checkpoint.seq, checkpoint.head_hash)
        return checkpoint


# ---------------------------------------------------------------------------------------------------
# Reading and judging


def _from_row(row: Any) -> Checkpoint:
    return Checkpoint(id=row.id, seq=row.seq, head_hash=row.head_hash, at=row.at, commune=row.commune,
                      key_id=row.key_id, alg=row.alg, signature=row.signature)


def _columns() -> list[Any]:
    table = AuditCheckpointRow
    return [table.id, table.seq, table.head_hash, table.at, table.commune, table.key_id, table.alg,
            table.signature]


async def read_checkpoints(database: Database, after: int | None = None,
                           up_to: int | None = None) -> list[Checkpoint]:
    """Stored checkpoints with `after` < seq <= `up_to` (either bound may be left open), by seq then id."""
    query = select(*_columns()).order_by(AuditCheckpointRow.seq, AuditCheckpointRow.id)
    if after is not None:
        query = query.where(AuditCheckpointRow.seq > after)
    if up_to is not None:
        query = query.where(AuditCheckpointRow.seq <= up_to)
    async with database.engine.connect() as connection:
        rows = (await connection.execute(query)).all()
    return [_from_row(row) for row in rows]


async def latest_checkpoint(database: Database) -> Checkpoint | None:
    query = select(*_columns()).order_by(AuditCheckpointRow.seq.desc(), AuditCheckpointRow.id.desc()).limit(1)
    async with database.engine.connect() as connection:
        row = (await connection.execute(query)).one_or_none()
    return None if row is None else _from_row(row)


@dataclass(frozen=True)
class CheckpointCheck:
    """What `AuditLog.verify` checks checkpoints with: the commune they must name, the public keys
    they may be signed with (by key id) and copies kept elsewhere, judged with the stored ones."""

    commune: str
    keys: Mapping[str, PublicKey]
    kept_elsewhere: tuple[Checkpoint, ...] = ()

    @classmethod
    def from_certificates(cls, commune: str, certificates: Iterable[x509.Certificate],
                          kept_elsewhere: Sequence[Checkpoint] = ()) -> CheckpointCheck:
        keys: dict[str, PublicKey] = {}
        for certificate in certificates:
            public = certificate.public_key()
            if isinstance(public, PublicKey):
                keys[key_id(public)] = public
        return cls(commune, keys, tuple(kept_elsewhere))

    def problem(self, checkpoint: Checkpoint) -> str | None:
        """Why `checkpoint` is not one the commune signed, or None when it is."""
        public = self.keys.get(checkpoint.key_id)
        if public is None:
            return (f"signed checkpoint {checkpoint.label} at entry {checkpoint.seq} names a key that is "
                    f"not the commune's (key id {checkpoint.key_id[:16]}…)")
        if checkpoint.commune != self.commune:
            return (f"signed checkpoint {checkpoint.label} at entry {checkpoint.seq} is for the commune "
                    f"{checkpoint.commune}, not {self.commune}")
        try:
            signature = base64.b64decode(checkpoint.signature, validate=True)
            good = verify_bytes(public, checkpoint.alg, checkpoint.message(), signature)
        except (ValueError, binascii.Error):
            good = False
        if not good:
            return (f"signed checkpoint {checkpoint.label} at entry {checkpoint.seq} does not carry a valid "
                    "signature of the commune's key (forged or altered)")
        return None

    def elsewhere(self, after: int | None, up_to: int | None) -> list[Checkpoint]:
        return [item for item in self.kept_elsewhere
                if (after is None or item.seq > after) and (up_to is None or item.seq <= up_to)]


def merge(stored: Sequence[Checkpoint], kept: Sequence[Checkpoint]) -> list[Checkpoint]:
    """Both lists in one, by seq then id; a copy identical to a stored checkpoint is judged once."""
    seen = set(stored)  # `source` takes no part in equality
    extra = [item for item in kept if item not in seen]
    return sorted([*stored, *extra], key=lambda item: (item.seq, item.id, item.source))


async def checkpoint_command(database: Database, keyring: Keyring, commune: str, stdout: TextIO,
                             stderr: TextIO) -> int:
    """`xaso audit checkpoint`: signs the head now, whether or not it moved, and prints the checkpoint
    as one JSON line on stdout (to append to a file kept elsewhere); a sentence on stderr."""
    try:
        checkpoint = await write_checkpoint(database, keyring, commune)
    except CheckpointError as problem:
        print(f"xaso audit checkpoint: {problem}", file=stderr)
        return 2
    assert checkpoint is not None  # only_if_moved is off
    print(f"signed audit checkpoint {checkpoint.label}: entries up to {checkpoint.seq}, "
          f"{vietnam_time(checkpoint.at)}", file=stderr)
    print(checkpoint.dumps(), file=stdout)
    return 0
