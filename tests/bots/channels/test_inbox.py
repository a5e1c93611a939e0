"""The durable inbox, one suite over each channel's table: de-duplication by key, order within a chat,
one chat held back by its failed event only, leases fenced, old rows purged, scopes kept apart."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from bots.channels.inbox import DONE, FAILED, PENDING, PROCESSING, DurableInbox, InboxTable
from bots.channels.processor import InboxProcessor, Receipt
from bots.telegram.inbox import TELEGRAM_INBOX
from bots.telegram.inbox import identify as telegram_identify
from bots.zalo.models import ZALO_INBOX
from core.db import Database
from core.models import utcnow

Event = Callable[[int, str], dict[str, Any]]  # an event numbered `n` in chat `c`, as the platform sends it


def telegram_event(number: int, chat: str) -> dict[str, Any]:
    return {"update_id": number, "message": {"message_id": number, "chat": {"id": int(chat)}, "text": "x"}}


def zalo_event(number: int, chat: str) -> dict[str, Any]:
    return {"event_name": "user_send_text", "sender": {"id": chat}, "message": {"msg_id": f"m{number}"}}


def zalo_identify(event: dict[str, Any]) -> tuple[str, str]:
    return event["message"]["msg_id"], event["sender"]["id"]


TABLES = {
    "telegram": (TELEGRAM_INBOX, 1, telegram_identify, telegram_event),
    "zalo": (ZALO_INBOX, "zalo", zalo_identify, zalo_event),
}


@pytest.fixture(params=sorted(TABLES))
def kind(request: pytest.FixtureRequest) -> tuple[InboxTable, Any, Any, Event]:
    return TABLES[request.param]


def inbox_of(database: Database, kind: tuple[InboxTable, Any, Any, Event], **options: Any) -> DurableInbox:
    table, scope, identify, _ = kind
    return DurableInbox(database, table, scope, identify, **options)


async def test_a_repeated_key_is_stored_once(database: Database, kind: Any) -> None:
    inbox, event = inbox_of(database, kind), kind[3]
    assert await inbox.accept(event(1, "10"))
    assert not await inbox.accept(event(1, "10"))
    assert (await inbox.counts())[PENDING] == 1


async def test_a_chat_is_held_back_by_its_own_failure_only(database: Database, kind: Any) -> None:
    inbox, event = inbox_of(database, kind), kind[3]
    for number, chat in ((1, "10"), (2, "10"), (3, "20")):
        await inbox.accept(event(number, chat))
    first = await inbox.claim(10)
    assert [item.chat_key for item in first] == ["10", "10", "20"]
    assert await inbox.claim(10) == []  # all leased
    assert not await inbox.failed(first[0])  # backs off
    await inbox.release([first[1]])
    await inbox.done(first[2])
    await inbox.accept(event(4, "20"))
    [later] = await inbox.claim(10)  # chat 10 waits for its first event
    assert later.chat_key == "20" and later.payload == event(4, "20")


async def test_an_expired_lease_is_retaken_and_the_old_worker_changes_nothing(database: Database,
                                                                              kind: Any) -> None:
    inbox, event = inbox_of(database, kind, lease=0.05), kind[3]
    await inbox.accept(event(1, "10"))
    [stale] = await inbox.claim(10)
    await asyncio.sleep(0.1)
    [retaken] = await inbox.claim(10)
    await inbox.done(stale)  # fenced: its lease was taken over
    assert (await inbox.counts())[PROCESSING] == 1
    await inbox.done(retaken)
    assert (await inbox.counts())[DONE] == 1


async def test_given_up_after_the_last_attempt_and_purged_when_old(database: Database, kind: Any) -> None:
    inbox, event = inbox_of(database, kind, max_attempts=1), kind[3]
    await inbox.accept(event(1, "10"))
    await inbox.accept(event(2, "20"))
    [one, two] = await inbox.claim(10)
    assert await inbox.failed(one)
    await inbox.done(two)
    assert (await inbox.counts())[FAILED] == 1
    assert await inbox.purge(timedelta(days=3)) == 0
    model = kind[0].model
    async with database.session() as session:
        await session.execute(update(model).values(received_at=utcnow() - timedelta(days=4)))
    assert await inbox.purge(timedelta(days=3)) == 2


async def test_scopes_sharing_a_table_stay_apart(database: Database) -> None:
    oa = DurableInbox(database, ZALO_INBOX, "zalo", zalo_identify)
    bot = DurableInbox(database, ZALO_INBOX, "zalobot", zalo_identify)
    assert await oa.accept(zalo_event(1, "u"))
    assert await bot.accept(zalo_event(1, "u"))  # the same key in another scope is another event
    assert [item.payload["sender"]["id"] for item in await bot.claim(10)] == ["u"]
    assert (await oa.counts())[PENDING] == 1


async def test_the_processor_keeps_each_chat_in_order(database: Database, kind: Any) -> None:
    inbox, event = inbox_of(database, kind), kind[3]
    for number in range(1, 7):
        await inbox.accept(event(number, "10" if number % 2 else "20"))
    handled: list[dict[str, Any]] = []
    all_handled = asyncio.Event()

    async def handle(payload: dict[str, Any]) -> None:
        await asyncio.sleep(0.01)
        handled.append(payload)
        if len(handled) == 6:
            all_handled.set()

    processor = InboxProcessor(inbox, handle, workers=2, idle=0.05, name="test")
    task = asyncio.create_task(processor.run())
    try:
        async with asyncio.timeout(10):
            await all_handled.wait()
    finally:
        processor.stop()
        await task
    identify = kind[2]
    assert [p for p in handled if identify(p)[1] == "10"] == [event(n, "10") for n in (1, 3, 5)]
    assert [p for p in handled if identify(p)[1] == "20"] == [event(n, "20") for n in (2, 4, 6)]
    assert (await inbox.counts())[DONE] == 6


async def test_a_receipt_with_a_backlog_keeps_what_the_database_refused(database: Database,
                                                                       kind: Any) -> None:
    inbox, event = inbox_of(database, kind), kind[3]
    handled: list[dict[str, Any]] = []
    got_one = asyncio.Event()

    async def handle(payload: dict[str, Any]) -> None:
        handled.append(payload)
        got_one.set()

    real_accept = inbox.accept
    refusals = iter([True])

    async def flaky(payload: dict[str, Any]) -> bool:
        if next(refusals, False):
            raise OSError("database unavailable")
        return await real_accept(payload)

    inbox.accept = flaky  # type: ignore[method-assign]
    strict = Receipt("strict", inbox, handle, workers=1, keep=timedelta(days=1))
    with pytest.raises(OSError):
        await strict.store(event(1, "10"))  # without a backlog the webhook answers 500
    refusals = iter([True])
    lenient = Receipt("lenient", inbox, handle, workers=1, keep=timedelta(days=1), backlog=True)
    await lenient.store(event(2, "10"))  # kept in memory, stored by the retry loop
    lenient.start()
    try:
        async with asyncio.timeout(10):
            await got_one.wait()
    finally:
        await lenient.stop()
    assert handled == [event(2, "10")]


async def test_leases_are_renewed_while_work_lasts_so_no_other_node_takes_it(database: Database,
                                                                             kind: Any) -> None:
    # Renewed every third of the lease: a second leaves room for a busy CI machine's pauses (0.3 s once
    # lost a lease there, and the rival rightly took the row).
    lease = 1.0
    inbox, rival = inbox_of(database, kind, lease=lease), inbox_of(database, kind, lease=lease)
    event = kind[3]
    for number, chat in ((1, "10"), (2, "10"), (3, "20")):
        await inbox.accept(event(number, chat))
    handled: list[dict[str, Any]] = []

    async def slow(payload: dict[str, Any]) -> None:
        await asyncio.sleep(2 * lease)  # each event outlasts the lease, the last one's several times over
        handled.append(payload)

    # One worker: chat 20 waits for it, its rows held by the dispatcher meanwhile.
    processor = InboxProcessor(inbox, slow, workers=1, idle=0.05, name="test")
    task = asyncio.create_task(processor.run())
    taken: list[Any] = []
    try:
        async with asyncio.timeout(30):
            for _ in range(1500):  # until the processor holds all three
                if (await inbox.counts())[PROCESSING] == 3:
                    break
                await asyncio.sleep(0.01)
            while len(handled) < 3:
                taken.extend(await rival.claim(10))
                await asyncio.sleep(lease / 4)
    finally:
        processor.stop()
        await task
    assert taken == [] and len(handled) == 3
    assert (await inbox.counts())[DONE] == 3


async def test_a_dead_nodes_events_are_taken_over_within_the_lease(database: Database, kind: Any) -> None:
    lease = 0.3
    dead, event = inbox_of(database, kind, lease=lease), kind[3]
    await dead.accept(event(1, "10"))
    assert len(await dead.claim(10)) == 1  # then the node is killed
    handled = asyncio.Event()

    async def handle(payload: dict[str, Any]) -> None:
        handled.set()

    processor = InboxProcessor(inbox_of(database, kind, lease=lease), handle, idle=0.05, name="test")
    started = asyncio.get_running_loop().time()
    task = asyncio.create_task(processor.run())
    try:
        async with asyncio.timeout(5):
            await handled.wait()
    finally:
        processor.stop()
        await task
    assert asyncio.get_running_loop().time() - started < lease + 1.0
