"""What a turn leaves to do after its commit (Turn.after_commit): the step runs once the message's
transaction has committed and SQLite's writer lock is released, so a slow one (a remote call) stalls
no other message; what it returns runs in a short transaction of its own, its replies following the
message's (and, for a pushed channel, in the outbox with the next keys); nothing runs after a rollback;
a failing step is answered politely and undoes nothing that was committed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from core.db import Database
from core.i18n import Catalogue
from core.messages import Incoming, Reply
from core.middlewares import AuditMessages, Deduplicate, EnqueueReplies
from core.models import OutboxMessage, ProcessedMessage
from core.outbox import Outbox
from core.pipeline import Finish, Outcome, Pipeline, Turn

PATIENCE = 10.0


@dataclass
class RecordingAudit:
    entries: list[str] = field(default_factory=list)

    async def record(self, actor: str, action: str, *, subject: str | None = None, outcome: str = "ok",
                     detail: Any = None) -> int:
        self.entries.append(f"{action}:{outcome}")
        return len(self.entries)


def incoming(text: str = "xin chào", channel: str = "web", message_id: str | None = None,
             user: str = "u1") -> Incoming:
    return Incoming(channel=channel, chat_id=f"chat-{user}", user_id=user, message_id=message_id, text=text)


async def marks(database: Database) -> list[str]:
    async with database.session() as session:
        return list(await session.scalars(select(ProcessedMessage.message_id)
                                          .where(ProcessedMessage.channel == "mark")
                                          .order_by(ProcessedMessage.message_id)))


def mark(turn: Turn, name: str) -> None:
    turn.session.add(ProcessedMessage(channel="mark", message_id=name))


def finishing(name: str, *replies: str, fail: bool = False) -> Finish:
    async def finish(turn: Turn) -> Sequence[Reply]:
        mark(turn, name)
        turn.audit("system", f"{name}.written")
        await turn.session.flush()
        if fail:
            raise RuntimeError("the finish failed")
        return [Reply(text) for text in replies]

    return finish


async def test_a_step_runs_after_the_commit_and_its_replies_follow(database: Database,
                                                                   catalogue: Catalogue) -> None:
    audit = RecordingAudit()
    seen: list[tuple[list[str], bool]] = []
    pipeline: Pipeline

    async def handler(turn: Turn) -> Outcome:
        mark(turn, "turn")

        async def step() -> Finish:
            locked = isinstance(pipeline._serial, asyncio.Lock) and pipeline._serial.locked()
            seen.append((await marks(database), locked))  # from another connection: committed
            return finishing("late", "paid link")

        turn.after_commit(step)
        return Outcome((Reply("placed"),))

    pipeline = Pipeline(database, catalogue, [AuditMessages()], handler, audit)
    outcome = await pipeline.handle(incoming())
    assert outcome.status == "ok" and [r.text for r in outcome.replies] == ["placed", "paid link"]
    assert seen == [(["turn"], False)]
    assert await marks(database) == ["late", "turn"]
    assert audit.entries == ["message.text:ok", "late.written:ok"]  # the step's notes are written too


async def test_nothing_runs_after_a_rollback(database: Database, catalogue: Catalogue) -> None:
    ran: list[str] = []

    async def handler(turn: Turn) -> Outcome:
        mark(turn, "turn")

        async def step() -> None:
            ran.append("step")

        turn.after_commit(step)
        raise RuntimeError("bug")

    outcome = await Pipeline(database, catalogue, [], handler, RecordingAudit()).handle(incoming())
    assert outcome.status == "error" and ran == [] and await marks(database) == []


async def test_a_failing_step_is_answered_politely_and_undoes_nothing_committed(
        database: Database, catalogue: Catalogue) -> None:
    async def handler(turn: Turn) -> Outcome:
        mark(turn, "turn")

        async def broken() -> Finish:
            raise RuntimeError("provider exploded")

        async def half() -> Finish:
            return finishing("half", "never shown", fail=True)

        async def fine() -> Finish:
            return finishing("fine", "still answered")

        for step in (broken, half, fine):
            turn.after_commit(step)
        return Outcome((Reply("placed"),))

    outcome = await Pipeline(database, catalogue, [], handler, RecordingAudit()).handle(incoming())
    texts = [reply.text for reply in outcome.replies]
    sorry = catalogue.t("error.generic", "vi")
    assert outcome.status == "ok" and texts == ["placed", sorry, sorry, "still answered"]
    assert "exploded" not in " ".join(texts)
    assert await marks(database) == ["fine", "turn"]  # the failed finish's write is rolled back


async def test_a_step_may_add_a_step(database: Database, catalogue: Catalogue) -> None:
    async def handler(turn: Turn) -> Outcome:
        async def first() -> Finish:
            async def finish(late: Turn) -> Sequence[Reply]:
                async def second() -> Finish:
                    return finishing("second", "two")

                late.after_commit(second)
                return [Reply("one")]

            return finish

        turn.after_commit(first)
        return Outcome(())

    outcome = await Pipeline(database, catalogue, [], handler, RecordingAudit()).handle(incoming())
    assert [reply.text for reply in outcome.replies] == ["one", "two"]


async def test_a_pushed_channel_gets_the_late_replies_in_the_outbox_with_the_next_keys(
        database: Database, catalogue: Catalogue) -> None:
    async def handler(turn: Turn) -> Outcome:
        async def late() -> Finish:
            return finishing("late", "third", "fourth")

        async def failing() -> Finish:
            return finishing("failing", "rolled back", fail=True)

        turn.after_commit(late)
        turn.after_commit(failing)
        return Outcome((Reply("first"), Reply("second")))

    outbox = Outbox(database)
    pipeline = Pipeline(database, catalogue, [EnqueueReplies(outbox, {"telegram": "tg"}), Deduplicate()],
                        handler, RecordingAudit())
    outcome = await pipeline.handle(incoming(channel="telegram", message_id="m1"))
    sorry = catalogue.t("error.generic", "vi")
    assert [reply.text for reply in outcome.replies] == ["first", "second", "third", "fourth", sorry]
    async with database.session() as session:
        rows = (await session.execute(select(OutboxMessage.key, OutboxMessage.payload)
                                      .order_by(OutboxMessage.id))).all()
    # The failed finish's writes went with its rollback; its apology is queued on its own.
    assert [key for key, _ in rows] == ["tg:m1:0", "tg:m1:1", "tg:m1:2", "tg:m1:3", "tg:m1:4"]
    assert [payload["text"] for _, payload in rows] == ["first", "second", "third", "fourth", sorry]
    # The same message again is a duplicate: no step runs twice.
    again = await pipeline.handle(incoming(channel="telegram", message_id="m1"))
    assert again.status == "duplicate" and await marks(database) == ["late"]


async def test_a_slow_step_stalls_no_other_message(database: Database, catalogue: Catalogue) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def handler(turn: Turn) -> Outcome:
        mark(turn, turn.incoming.user_id)
        if turn.incoming.user_id == "slow":
            async def step() -> Finish:
                entered.set()
                await release.wait()  # a remote call that takes its time
                return finishing("slow-late", "at last")

            turn.after_commit(step)
        return Outcome((Reply(f"hello {turn.incoming.user_id}"),))

    pipeline = Pipeline(database, catalogue, [], handler, RecordingAudit())
    slow = asyncio.create_task(pipeline.handle(incoming(user="slow")))
    async with asyncio.timeout(PATIENCE):
        await entered.wait()
        other = await pipeline.handle(incoming(user="other"))  # answered while the step waits
    assert [reply.text for reply in other.replies] == ["hello other"] and not slow.done()
    release.set()
    async with asyncio.timeout(PATIENCE):
        done = await slow
    assert [reply.text for reply in done.replies] == ["hello slow", "at last"]
    assert await marks(database) == ["other", "slow", "slow-late"]
