"""The `xaso` console script, run for real as subprocesses (ARCHITECTURE.md, "Command line: xaso").

Each test gives the script its own working directory, database (a SQLite file, or the PostgreSQL test
database when XASO_TEST_DATABASE_URL is set), secret key and var directory, and bounds it in time.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.engine import Connection

from bots.services.assembly import grantable_roles
from core.audit import AuditLog
from core.config import REPO_ROOT
from core.crypto import Hasher
from core.db import Database
from core.identity import InviteOutcome, redeem_invite, resolve_user
from core.models import AuditEntry, AuditHead, Invite
from core.signing import create_commune_keys
from nlu.embedded import EmbeddedNLU
from tests.core.test_audit_checkpoints import rewrite_from
from tests.support.cli import SECRET, TIMEOUT, Xaso, explain
from tests.support.db import POSTGRES_URL

MODEL_FILE = "nlu-model.joblib"


def numbers_in(output: str) -> set[int]:
    return {int(n) for n in re.findall(r"\d+", output)}


@pytest.fixture
def xaso(tmp_path: Path, database: Database) -> Xaso:
    """The script on the test database (emptied first on PostgreSQL)."""
    return Xaso.make(tmp_path, database.url, tmp_path / "var")


# ---------------------------------------------------------------------------------------------------
# xaso --help


HELP_COMMANDS: tuple[tuple[str, ...], ...] = (
    (), ("serve",), ("chat",), ("nlu",), ("nlu", "parse"), ("nlu", "evaluate"), ("nlu", "train"),
    ("invite",), ("audit",), ("audit", "verify"), ("audit", "checkpoint"), ("db",), ("db", "upgrade"),
)


def test_help_of_every_command_exits_0(tmp_path: Path) -> None:
    xaso = Xaso.make(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'never.db'}", tmp_path / "var")
    # All at once: a dozen interpreter starts in parallel rather than one after the other.
    running = {
        words: subprocess.Popen(xaso.command([*words, "--help"]), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                cwd=xaso.cwd, env=xaso.env)
        for words in HELP_COMMANDS
    }
    outputs: dict[tuple[str, ...], str] = {}
    try:
        for words, process in running.items():
            stdout, stderr = process.communicate(timeout=TIMEOUT)
            assert process.returncode == 0, (words, process.returncode, stderr)
            assert "Traceback" not in stderr, (words, stderr)
            outputs[words] = stdout
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    for words, stdout in outputs.items():
        assert re.search(rf"usage: xaso {re.escape(' '.join(words))}", stdout), (words, stdout)
    for command in ("serve", "chat", "nlu", "invite", "audit", "db"):
        assert command in outputs[()], command
    for command in ("parse", "evaluate", "train"):
        assert command in outputs[("nlu",)], command
    assert "--port" in outputs[("serve",)] and "--host" in outputs[("serve",)]
    assert "--user" in outputs[("chat",)]
    assert "file" in outputs[("nlu", "evaluate")].lower()
    assert not (tmp_path / "never.db").exists(), "--help must not open the database"


# ---------------------------------------------------------------------------------------------------
# xaso db upgrade


def _table_names(connection: Connection) -> list[str]:
    return inspect(connection).get_table_names()


async def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    url = POSTGRES_URL or f"sqlite+aiosqlite:///{fresh}"
    xaso = Xaso.make(tmp_path, url, tmp_path / "var")
    first = xaso("db", "upgrade")
    assert first.returncode == 0, explain(first)
    if not POSTGRES_URL:
        assert fresh.exists()
    again = xaso("db", "upgrade")  # already at head: nothing to do, still fine
    assert again.returncode == 0, explain(again)
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            tables = set(await connection.run_sync(_table_names))
            heads = (await connection.execute(select(func.count()).select_from(AuditHead))).scalar_one()
    finally:
        await database.close()
    expected = {"alembic_version", "users", "user_roles", "invites", "audit_log", "audit_head", "outbox"}
    assert expected <= tables, tables
    assert heads == 1


# ---------------------------------------------------------------------------------------------------
# xaso invite ROLE


async def _invite_count(database: Database) -> int:
    async with database.session() as session:
        return (await session.execute(select(func.count()).select_from(Invite))).scalar_one()


async def test_invite_prints_a_one_time_code_on_the_last_line(xaso: Xaso, database: Database) -> None:
    done = xaso("invite", "staff")
    assert done.returncode == 0, explain(done)
    last_line = done.stdout.rstrip("\n").split("\n")[-1]
    code = last_line.strip()
    assert code and code == last_line and not re.search(r"\s", code), done.stdout
    assert await _invite_count(database) == 1

    hasher = Hasher(SECRET.encode())
    async with database.session() as session:
        invitee = await resolve_user(session, "web", "cli-invitee")
        first = await redeem_invite(session, hasher, code, invitee.id)
    assert first == InviteOutcome(True, role="staff", commune="LB")
    async with database.session() as session:
        assert "staff" in (await resolve_user(session, "web", "cli-invitee")).roles
        latecomer = await resolve_user(session, "web", "cli-latecomer")
        second = await redeem_invite(session, hasher, code, latecomer.id)
    assert not second.ok and second.reason == "used"
    async with database.session() as session:
        assert "staff" not in (await resolve_user(session, "web", "cli-latecomer")).roles

    async with database.engine.connect() as connection:
        actions = (await connection.execute(select(AuditEntry.actor, AuditEntry.action))).all()
    assert ("cli", "role.invite") in [tuple(row) for row in actions]

    refused = xaso("invite", "emperor")
    assert refused.returncode != 0, explain(refused)
    message = refused.stdout + refused.stderr
    assert "Traceback" not in message
    assert "emperor" in message
    for role in grantable_roles(REPO_ROOT / "data"):
        assert role in message, (role, message)
    assert await _invite_count(database) == 1


async def test_a_host_invite_is_tied_to_a_homestay(xaso: Xaso, database: Database) -> None:
    host = xaso("invite", "host", "--stay", "mau_nha_san")
    assert host.returncode == 0 and "Nhà sàn mẫu" in host.stdout, explain(host)
    unknown = xaso("invite", "host", "--stay", "khach_san_5_sao")
    assert unknown.returncode == 2 and "unknown homestay" in unknown.stderr, explain(unknown)
    mismatched = xaso("invite", "staff", "--stay", "mau_nha_san")
    assert mismatched.returncode == 2 and "--stay goes with" in mismatched.stderr, explain(mismatched)
    assert await _invite_count(database) == 1


async def test_a_provinces_invite_names_its_commune(xaso: Xaso, database: Database) -> None:
    xaso.env["XASO_COMMUNES"] = "LB,SM"
    unscoped = xaso("invite", "staff")
    assert unscoped.returncode == 2 and "--commune" in unscoped.stderr, explain(unscoped)
    unknown = xaso("invite", "staff", "--commune", "TT")
    assert unknown.returncode == 2 and "LB, SM" in unknown.stderr, explain(unknown)
    assert await _invite_count(database) == 0
    done = xaso("invite", "staff", "--commune", "sm")
    assert done.returncode == 0 and "commune SM" in done.stdout, explain(done)
    code = done.stdout.rstrip("\n").split("\n")[-1].strip()
    async with database.session() as session:
        official = await resolve_user(session, "telegram", "sm-official", commune="LB")
        joined = await redeem_invite(session, Hasher(SECRET.encode()), code, official.id)
    assert joined == InviteOutcome(True, role="staff", commune="SM")
    async with database.session() as session:
        now = await resolve_user(session, "telegram", "sm-official")
    assert now.commune == "SM" and "staff" in now.roles
    seller = xaso("invite", "seller", "--seller", "htx_mat_ong_sang_moc", "--commune", "SM")
    assert seller.returncode == 0 and "HTX Mật ong Sảng Mộc" in seller.stdout, explain(seller)
    wrong = xaso("invite", "seller", "--seller", "htx_mat_ong_sang_moc", "--commune", "LB")
    assert wrong.returncode == 2 and "unknown seller" in wrong.stderr, explain(wrong)


# ---------------------------------------------------------------------------------------------------
# xaso audit verify


async def _record_entries(database: Database, count: int) -> None:
    log = AuditLog(database)
    for n in range(1, count + 1):
        await log.record("test", "test.entry", subject=f"item:{n}", detail={"n": n})


async def test_audit_verify_passes_on_an_intact_chain(xaso: Xaso, database: Database) -> None:
    fresh = xaso("audit", "verify")
    assert fresh.returncode == 0, explain(fresh)
    assert "ok" in fresh.stdout.lower()
    await _record_entries(database, 5)
    grown = xaso("audit", "verify")
    assert grown.returncode == 0, explain(grown)
    assert "ok" in grown.stdout.lower()
    assert 5 in numbers_in(grown.stdout), grown.stdout


async def _edit_details(database: Database) -> None:
    """Rewrites what entries 3 and 5 say, through SQL, past the audit log's own API."""
    async with database.engine.begin() as connection:
        await connection.execute(
            update(AuditEntry).where(AuditEntry.seq.in_((3, 5))).values(detail={"n": 99})
        )


async def _delete_middle(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_log WHERE seq = 3"))


@pytest.mark.parametrize("tamper", [_edit_details, _delete_middle], ids=["edit-detail", "delete-middle"])
async def test_audit_verify_names_the_first_broken_entry(
    xaso: Xaso, database: Database, tamper: Callable[[Database], Awaitable[None]]
) -> None:
    await _record_entries(database, 6)
    await tamper(database)
    done = xaso("audit", "verify")
    assert done.returncode != 0, explain(done)
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    mentioned = numbers_in(output)
    assert 3 in mentioned, output
    assert 5 not in mentioned, output  # the first break, not a later one


async def test_audit_checkpoint_signs_the_head_and_verify_catches_a_rewritten_suffix(
    xaso: Xaso, database: Database, tmp_path: Path
) -> None:
    refused = xaso("audit", "checkpoint")
    assert refused.returncode == 2 and "xaso keys init" in refused.stderr, explain(refused)
    create_commune_keys(tmp_path / "var" / "keys", "Xã La Bằng")
    await _record_entries(database, 6)
    signed = xaso("audit", "checkpoint")
    assert signed.returncode == 0, explain(signed)
    (line,) = signed.stdout.splitlines()  # the JSON alone on stdout, to append to a file kept elsewhere
    checkpoint = json.loads(line)
    assert (checkpoint["format"], checkpoint["seq"], checkpoint["commune"]) == (
        "xaso-audit-checkpoint/1", 6, "LB")
    assert "checkpoint #1" in signed.stderr
    kept = tmp_path / "kept.jsonl"
    kept.write_text(signed.stdout, encoding="utf-8")

    sound = xaso("audit", "verify")
    assert sound.returncode == 0, explain(sound)
    assert "signed checkpoints ok: 1" in sound.stdout, sound.stdout
    await rewrite_from(database, AuditLog(database), 3)
    rewritten = xaso("audit", "verify")
    assert rewritten.returncode == 1, explain(rewritten)
    assert "the chain differs from signed checkpoint #1 at entry 6" in rewritten.stdout, rewritten.stdout

    # Without its stored checkpoint the rewrite passes; the copy kept elsewhere still tells.
    async with database.engine.begin() as connection:
        await connection.execute(text("DELETE FROM audit_checkpoints"))
    assert xaso("audit", "verify").returncode == 0
    with_copy = xaso("audit", "verify", "--checkpoints", str(kept))
    assert with_copy.returncode == 1, explain(with_copy)
    assert "checkpoint #1 (from " in with_copy.stdout, with_copy.stdout
    unreadable = xaso("audit", "verify", "--checkpoints", str(tmp_path / "missing.jsonl"))
    assert unreadable.returncode == 2 and "Traceback" not in unreadable.stderr, explain(unreadable)


# ---------------------------------------------------------------------------------------------------
# xaso nlu train | parse | evaluate


@dataclass(frozen=True)
class TrainedNLU:
    xaso: Xaso
    model: Path
    training: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedNLU:
    """`xaso nlu train` once for this module; parse and evaluate then load the model it wrote."""
    root = tmp_path_factory.mktemp("nlu-cli")
    var_dir = root / "var"  # not created yet: training must make it
    url = POSTGRES_URL or f"sqlite+aiosqlite:///{root / 'unused.db'}"
    xaso = Xaso.make(root, url, var_dir)
    return TrainedNLU(xaso, var_dir / MODEL_FILE, xaso("nlu", "train"))


def test_nlu_train_writes_the_model(trained: TrainedNLU) -> None:
    assert trained.training.returncode == 0, explain(trained.training)
    assert trained.model.is_file() and trained.model.stat().st_size > 0
    engine = EmbeddedNLU.load(trained.model)
    assert engine.parse("xin chào").intent == "greet"


PARSE_INPUT = (
    "đau ngực khó thở",
    "chao ban",
    "xin chào",
    "",
    "dau nguc kho tho",
    "đơn hàng DH-000321 đến đâu rồi",
    "where is my order DH-000123",
)


def test_nlu_parse_writes_one_json_object_per_non_empty_line(trained: TrainedNLU) -> None:
    assert trained.model.is_file(), explain(trained.training)
    trained_at = trained.model.stat().st_mtime_ns
    done = trained.xaso("nlu", "parse", stdin="".join(f"{line}\n" for line in PARSE_INPUT))
    assert done.returncode == 0, explain(done)
    assert "Traceback" not in done.stderr
    assert trained.model.stat().st_mtime_ns == trained_at, "parse must load the model, not retrain it"

    lines = done.stdout.splitlines()
    expected_texts = [line for line in PARSE_INPUT if line]
    assert len(lines) == len(expected_texts), done.stdout
    results = [json.loads(line) for line in lines]
    for result, sent in zip(results, expected_texts, strict=True):
        assert set(result) == {"text", "intent", "confidence", "entities"}, result
        assert result["text"] == sent
        assert isinstance(result["intent"], str) and result["intent"]
        assert isinstance(result["confidence"], int | float) and 0.0 <= result["confidence"] <= 1.0
        assert isinstance(result["entities"], list)
        for entity in result["entities"]:
            assert set(entity) == {"entity", "value", "start", "end"}, entity
            assert isinstance(entity["start"], int) and isinstance(entity["end"], int)
            assert 0 <= entity["start"] < entity["end"] <= len(sent), entity
    by_text = {result["text"]: result for result in results}
    assert by_text["đau ngực khó thở"]["intent"] == "emergency"
    assert by_text["dau nguc kho tho"]["intent"] == "emergency"
    assert by_text["chao ban"]["intent"] == "greet"
    assert by_text["xin chào"]["intent"] == "greet"
    for sent, code in (("đơn hàng DH-000321 đến đâu rồi", "DH-000321"),
                       ("where is my order DH-000123", "DH-000123")):
        codes = [e for e in by_text[sent]["entities"] if e["entity"] == "order_code"]
        assert len(codes) == 1, by_text[sent]
        assert codes[0]["value"] == code and sent[codes[0]["start"]:codes[0]["end"]] == code


def _evaluation_numbers(output: str) -> tuple[float, float, float]:
    accuracy = re.search(r"accuracy\W*([01](?:\.\d+)?)", output, re.IGNORECASE)
    p50 = re.search(r"p50\D*?(\d+(?:\.\d+)?)", output)
    p99 = re.search(r"p99\D*?(\d+(?:\.\d+)?)", output)
    assert accuracy and p50 and p99, output
    return float(accuracy.group(1)), float(p50.group(1)), float(p99.group(1))


EVALUATION_TSV = (
    "intent\ttext\n"
    "greet\txin chào\n"
    "greet\tchao ban\n"
    "emergency\tđau ngực khó thở\n"
    "thanks\tcảm ơn nhiều\n"
    "goodbye\ttạm biệt\n"
    "order_status\tđơn hàng DH-000321 đến đâu rồi\n"
)

EVALUATION_YAML = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - xin chào
    - chào bạn
- intent: order_status
  examples: |
    - đơn hàng [DH-000321](order_code) đến đâu rồi
- intent: emergency
  examples: |
    - đau ngực khó thở
"""


@pytest.mark.parametrize(
    ("filename", "content", "intents"),
    [
        ("heldout.tsv", EVALUATION_TSV, ("greet", "emergency", "thanks", "goodbye", "order_status")),
        ("heldout.yml", EVALUATION_YAML, ("greet", "order_status", "emergency")),
    ],
    ids=["tsv", "rasa-yaml"],
)
def test_nlu_evaluate_prints_accuracy_and_latency(
    trained: TrainedNLU, tmp_path: Path, filename: str, content: str, intents: tuple[str, ...]
) -> None:
    assert trained.model.is_file(), explain(trained.training)
    path = tmp_path / filename
    path.write_text(content, encoding="utf-8")
    done = trained.xaso("nlu", "evaluate", str(path))
    assert done.returncode == 0, explain(done)
    accuracy, p50, p99 = _evaluation_numbers(done.stdout)
    assert 0.8 <= accuracy <= 1.0, done.stdout  # easy, unambiguous examples
    assert 0.0 < p50 <= p99, done.stdout
    lowered = done.stdout.lower()
    for word in ("precision", "recall", "f1"):
        assert word in lowered, done.stdout
    for intent in intents:
        assert intent in done.stdout, (intent, done.stdout)
