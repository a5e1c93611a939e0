"""Each policy step alone, and the pipeline's fail-closed behaviour."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from core.db import Database
from core.i18n import Catalogue
from core.identity import grant_role, resolve_user
from core.links import LinkVerdict
from core.messages import Incoming, Reply
from core.middlewares import AuditMessages, Deduplicate, IdentifyAndAuthorize, InputLimits, RateLimit
from core.models import ProcessedMessage
from core.pipeline import Outcome, Pipeline, Turn
from core.roles import PUBLIC, AccessRules, only

# What the services declare (bots/services/*/unit.py), as a table of the test's own.
ACCESS = AccessRules(
    {"/approve": only("staff"), "/invite": only("admin"), "/queue": only("doctor"), "/ship": only("seller"),
     "/start": PUBLIC},
    {"staff": only("staff"), "admin": only("admin"), "menu": PUBLIC},
)


@dataclass
class RecordingAudit:
    entries: list[dict[str, Any]] = field(default_factory=list)

    async def record(self, actor: str, action: str, *, subject: str | None = None, outcome: str = "ok",
                     detail: Any = None) -> int:
        self.entries.append({"actor": actor, "action": action, "subject": subject, "outcome": outcome,
                             "detail": detail})
        return len(self.entries)


class FakeLinks:
    def check(self, text: str) -> LinkVerdict:
        return LinkVerdict("evil.example" not in text, (), ())


class Handler:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, turn: Turn) -> Outcome:
        self.calls += 1
        return Outcome((Reply("handled"),))


def incoming(text: str | None = "xin chào", **kwargs: Any) -> Incoming:
    values: dict[str, Any] = {"channel": "web", "chat_id": "c1", "user_id": "u1", "text": text}
    values.update(kwargs)
    return Incoming(**values)


async def test_deduplicate_drops_a_repeated_platform_id(database: Database) -> None:
    handler, step = Handler(), Deduplicate()
    for _ in range(2):
        async with database.session() as session:
            outcome = await step(Turn(incoming(message_id="42"), session), handler)
    assert handler.calls == 1 and outcome.status == "duplicate" and outcome.replies == ()
    async with database.session() as session:
        await step(Turn(incoming(message_id=None), session), handler)
        await step(Turn(incoming(message_id=None), session), handler)
    assert handler.calls == 3  # no id, nothing to de-duplicate on


async def test_deduplicate_forgets_when_handling_failed(database: Database) -> None:
    step = Deduplicate()

    async def failing(turn: Turn) -> Outcome:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        async with database.session() as session:
            await step(Turn(incoming(message_id="7"), session), failing)
    async with database.session() as session:
        count = (await session.execute(select(func.count()).select_from(ProcessedMessage))).scalar_one()
    assert count == 0  # the platform's retry will be processed


async def test_rate_limit_per_user_does_not_touch_others(catalogue: Catalogue) -> None:
    now = [0.0]
    step, handler = RateLimit(catalogue, per_minute=60, burst=3, clock=lambda: now[0]), Handler()
    flood = [await step(Turn(incoming(), None), handler) for _ in range(10)]  # type: ignore[arg-type]
    assert [o.status for o in flood].count("ok") == 3
    assert flood[-1].status == "rate_limited" and "nhanh" in flood[-1].replies[0].text
    other = await step(Turn(incoming(user_id="u2", chat_id="c2"), None), handler)  # type: ignore[arg-type]
    assert other.status == "ok"
    now[0] += 1.0
    assert (await step(Turn(incoming(), None), handler)).status == "ok"  # type: ignore[arg-type]


async def test_identity_creates_the_user_once(database: Database, catalogue: Catalogue) -> None:
    step, handler = IdentifyAndAuthorize(catalogue, ACCESS), Handler()
    ids = []
    for _ in range(2):
        async with database.session() as session:
            turn = Turn(incoming(language="en"), session)
            await step(turn, handler)
            assert turn.identity is not None
            ids.append(turn.identity.id)
    assert ids[0] == ids[1] and turn.identity.language == "en"
    assert turn.identity.roles == frozenset({"citizen"})
    assert turn.audit_notes == []  # nothing needing a role was attempted


@pytest.mark.parametrize("message", [
    {"text": "/approve LB-2026-000001"}, {"text": "/approve@xaso_bot LB-2026-000001"},
    {"text": "/INVITE admin"}, {"text": None, "button": "staff:approve:LB-2026-000001"},
    {"text": None, "button": "admin:anything"}, {"text": "/queue"}, {"text": "/ship DH-000001"},
])
async def test_staff_commands_and_buttons_are_denied_to_citizens(message: dict[str, Any], database: Database,
                                                                 catalogue: Catalogue) -> None:
    handler, step = Handler(), IdentifyAndAuthorize(catalogue, ACCESS)
    async with database.session() as session:
        turn = Turn(incoming(**message), session)
        outcome = await step(turn, handler)
    assert outcome.status == "denied" and handler.calls == 0
    assert "không có quyền" in outcome.replies[0].text
    assert [note.outcome for note in turn.audit_notes] == ["deny"]


async def test_role_holders_are_allowed_and_audited(database: Database, catalogue: Catalogue) -> None:
    handler, step = Handler(), IdentifyAndAuthorize(catalogue, ACCESS)
    async with database.session() as session:
        identity = await resolve_user(session, "web", "u1")
        await grant_role(session, identity.id, "doctor", granted_by="test")
    async with database.session() as session:
        allowed, denied = Turn(incoming(text="/queue"), session), Turn(incoming(text="/approve X"), session)
        assert (await step(allowed, handler)).status == "ok"
        assert (await step(denied, handler)).status == "denied"
    assert [(n.subject, n.outcome) for n in allowed.audit_notes + denied.audit_notes] == [
        ("/queue", "allow"), ("/approve", "deny")]


async def test_admin_may_do_everything(database: Database, catalogue: Catalogue) -> None:
    step, handler = IdentifyAndAuthorize(catalogue, ACCESS), Handler()
    async with database.session() as session:
        identity = await resolve_user(session, "web", "u1")
        await grant_role(session, identity.id, "admin", granted_by="test")
    async with database.session() as session:
        for text in ("/approve X", "/queue", "/ship DH-1", "/invite staff"):
            assert (await step(Turn(incoming(text=text), session), handler)).status == "ok"


async def test_input_limits(catalogue: Catalogue) -> None:
    step, handler = InputLimits(catalogue, FakeLinks(), max_text_chars=100), Handler()
    assert (await step(Turn(incoming(text="a" * 101), None), handler)).status == "too_long"  # type: ignore[arg-type]
    assert (await step(Turn(incoming(text="a" * 100), None), handler)).status == "ok"  # type: ignore[arg-type]
    refused = await step(Turn(incoming(text="xem http://evil.example/x"), None), handler)  # type: ignore[arg-type]
    assert refused.status == "refused" and refused.replies[0].text
    assert handler.calls == 1


async def test_audit_records_digest_not_content(database: Database) -> None:
    handler, step = Handler(), AuditMessages()
    async with database.session() as session:
        turn = Turn(incoming(text="số CCCD của tôi là 001099012345"), session)
        await step(turn, handler)
    (note,) = turn.audit_notes
    assert note.action == "message.text" and handler.calls == 1
    assert "001099012345" not in repr(note)


async def test_pipeline_writes_audit_notes_after_the_transaction_even_when_it_fails(
        database: Database, catalogue: Catalogue) -> None:
    audit = RecordingAudit()

    async def failing(turn: Turn) -> Outcome:
        turn.audit("user:1", "something.tried")
        raise RuntimeError("bug")

    outcome = await Pipeline(database, catalogue, [AuditMessages()], failing, audit).handle(incoming())
    assert outcome.status == "error"
    assert [entry["action"] for entry in audit.entries] == ["message.text", "something.tried"]


class Exploding:
    async def __call__(self, turn: Turn, handler: Any) -> Outcome:
        raise RuntimeError("policy store is down")


async def test_a_failing_policy_step_refuses_the_message(database: Database, catalogue: Catalogue) -> None:
    handler = Handler()
    pipeline = Pipeline(database, catalogue, [Exploding()], handler, RecordingAudit())
    outcome = await pipeline.handle(incoming())
    assert outcome.status == "policy_error" and handler.calls == 0
    assert "policy store" not in outcome.replies[0].text


async def test_a_failing_handler_is_answered_politely_and_rolled_back(database: Database,
                                                                      catalogue: Catalogue) -> None:
    async def failing(turn: Turn) -> Outcome:
        turn.session.add(ProcessedMessage(channel="web", message_id="half"))
        await turn.session.flush()
        raise RuntimeError("bug")

    pipeline = Pipeline(database, catalogue, [Deduplicate()], failing, RecordingAudit())
    outcome = await pipeline.handle(incoming(message_id="m1"))
    assert outcome.status == "error" and "trục trặc" in outcome.replies[0].text
    async with database.session() as session:
        assert (await session.execute(select(func.count()).select_from(ProcessedMessage))).scalar_one() == 0
