"""Inline buttons are bound to the chat (and, in a group, the member) they were sent to: replayed from
anywhere else they are refused as forged; buttons pushed later through the outbox still work."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from bots.server import ASSISTANT
from bots.telegram import callbacks
from core.crypto import Hasher
from core.db import Database
from core.messages import Button, Reply
from tests.support.fake_telegram import BOT_USERNAME, FakeTelegram
from tests.support.telegram import callback_update, fake, message_update, post, tg

__all__ = ["fake", "tg"]  # fixtures, used by name

HASHER = Hasher(b"k" * 32)
GROUP = {"id": -100123, "type": "supergroup", "title": "Thôn 3"}
OTHER_GROUP = {"id": -100999, "type": "supergroup", "title": "Thôn 4"}
FORGED_METRIC = 'xaso_webhook_rejections_total{reason="forged_button",source="telegram"}'


def keyboard_data(call: Any) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [button["callback_data"] for row in markup.get("inline_keyboard", []) for button in row]


async def forged_count(client: TestClient) -> float:
    for line in (await (await client.get("/metrics")).text()).splitlines():
        if line.startswith(FORGED_METRIC):
            return float(line.split()[-1])
    return 0.0


async def answer_with(fake: FakeTelegram, text: str, after: int) -> Any:
    """The first message sent after the first `after` ones that holds `text`, once it is sent."""
    async with asyncio.timeout(10):
        while True:
            found = [c for c in fake.sent()[after:] if text in str(c.params.get("text", ""))]
            if found:
                return found[0]
            await asyncio.sleep(0.02)


# The tag itself


async def test_a_private_button_checks_only_in_its_own_chat(database: Database) -> None:
    async with database.session() as session:
        short = await callbacks.pack(HASHER, session, "menu:help", 42)
        long_data = "form:dossier_submit:field:" + "x" * 80
        long = await callbacks.pack(HASHER, session, long_data, 42)
        assert await callbacks.unpack(HASHER, session, short, 42, 42) == "menu:help"
        assert await callbacks.unpack(HASHER, session, long, 42, 42) == long_data
        for chat, user in ((43, 43), (-100123, 42), (-100123, 43)):
            assert await callbacks.unpack(HASHER, session, short, chat, user) is None
            assert await callbacks.unpack(HASHER, session, long, chat, user) is None
        # No chat to check against (an inline-mode message): refused.
        assert await callbacks.unpack(HASHER, session, short, None, 42) is None


async def test_a_group_button_is_its_members_and_a_broadcast_is_the_groups(database: Database) -> None:
    async with database.session() as session:
        mine = await callbacks.pack(HASHER, session, "menu:help", -100123, 7)
        everyone = await callbacks.pack(HASHER, session, "menu:help", -100123, None)
        assert await callbacks.unpack(HASHER, session, mine, -100123, 7) == "menu:help"
        assert await callbacks.unpack(HASHER, session, mine, -100123, 8) is None  # another member
        assert await callbacks.unpack(HASHER, session, mine, -100999, 7) is None  # another group
        assert await callbacks.unpack(HASHER, session, mine, 7, 7) is None  # the member's private chat
        for member in (7, 8, 9):
            assert await callbacks.unpack(HASHER, session, everyone, -100123, member) == "menu:help"
        assert await callbacks.unpack(HASHER, session, everyone, -100999, 7) is None
        assert await callbacks.unpack(HASHER, session, everyone, 7, 7) is None
        # A private chat's button is always its user's, whatever user was given.
        private = await callbacks.pack(HASHER, session, "menu:help", 42, None)
        assert private == await callbacks.pack(HASHER, session, "menu:help", 42, 99)


async def test_buttons_tagged_the_old_way_are_refused(database: Database) -> None:
    old_tag = HASHER.sign("telegram-button:menu:help")[: callbacks.TAG_CHARS]
    async with database.session() as session:
        assert await callbacks.unpack(HASHER, session, f"menu:help~{old_tag}", 42, 42) is None
        assert await callbacks.unpack(HASHER, session, f"menu:help~{old_tag}", -100123, 42) is None


@settings(max_examples=200, deadline=None)
@given(data=st.text(max_size=80), chat=st.integers(-(2**52), 2**52), user=st.integers(1, 2**52))
def test_unpack_never_raises(data: str, chat: int, user: int) -> None:
    async def check() -> None:
        # No random tag checks, so the session (needed only for "#…" data that does) is never used.
        assert await callbacks.unpack(HASHER, None, data, chat, user) is None  # type: ignore[arg-type]
    asyncio.run(check())


async def test_non_ascii_or_odd_tags_do_not_raise(database: Database) -> None:
    async with database.session() as session:
        for data in ("menu:help~" + "é" * 16, "menu:help~\udcff" * 2, "~", "a~b~c", "#~" + "0" * 16):
            assert await callbacks.unpack(HASHER, session, data, 42, 42) is None


# End to end through the webhook


async def test_a_button_replayed_from_another_chat_is_refused_as_forged(tg: TestClient,
                                                                       fake: FakeTelegram) -> None:
    await post(tg, message_update(text="/start"))
    [menu] = await fake.wait_for(1)
    emergency = next(item for item in keyboard_data(menu) if item.startswith("menu:emergency~"))
    before = await forged_count(tg)
    await post(tg, callback_update(emergency, user_id=43))
    [refused] = await fake.wait_for(1, "answerCallbackQuery")
    assert "không còn dùng được" in refused.params["text"]
    await asyncio.sleep(0.3)
    assert [call.chat_id for call in fake.sent()] == [42]  # nothing went to the other chat
    assert await forged_count(tg) == before + 1
    # In its own chat the same button still works.
    await post(tg, callback_update(emergency, user_id=42))
    calls = await fake.wait_for(2)
    assert calls[1].chat_id == 42 and "115" in calls[1].params["text"]


async def enqueue(client: TestClient, chat_id: str, reply: Reply, key: str) -> None:
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        await assistant.services.outbox.enqueue(session, channel="telegram", chat_id=chat_id, reply=reply,
                                                key=key)
    await assistant.services.outbox.wake("telegram")


async def test_buttons_in_a_pushed_notice_work_in_the_chat_it_was_pushed_to(tg: TestClient,
                                                                           fake: FakeTelegram) -> None:
    notice = Reply("Sự việc đã được khắc phục chưa?", (Button("Khẩn cấp", "menu:emergency"),))
    await enqueue(tg, "42", notice, "test:notice:1")
    [pushed] = await fake.wait_for(1)
    assert pushed.chat_id == 42
    [data] = keyboard_data(pushed)
    await post(tg, callback_update(data, user_id=43))  # forwarded elsewhere: refused
    [refused] = await fake.wait_for(1, "answerCallbackQuery")
    assert "không còn dùng được" in refused.params["text"]
    await post(tg, callback_update(data, user_id=42))
    calls = await fake.wait_for(2)
    assert calls[1].chat_id == 42 and "115" in calls[1].params["text"]


async def test_a_group_reply_is_for_the_member_who_asked(tg: TestClient, fake: FakeTelegram) -> None:
    await post(tg, message_update(user_id=7, chat=GROUP, text=f"/start@{BOT_USERNAME}"))
    [menu] = await fake.wait_for(1)
    assert menu.chat_id == -100123
    emergency = next(item for item in keyboard_data(menu) if item.startswith("menu:emergency~"))
    before = await forged_count(tg)
    await post(tg, callback_update(emergency, user_id=8, chat=GROUP))  # another member
    await post(tg, callback_update(emergency, user_id=7, chat=OTHER_GROUP))  # another group
    await fake.wait_for(2, "answerCallbackQuery")
    await asyncio.sleep(0.3)
    assert len(fake.sent()) == 1 and await forged_count(tg) == before + 2
    await post(tg, callback_update(emergency, user_id=7, chat=GROUP))
    calls = await fake.wait_for(2)
    assert calls[1].chat_id == -100123 and "115" in calls[1].params["text"]


async def test_a_notice_pushed_to_a_whole_group_is_for_any_member(tg: TestClient, fake: FakeTelegram) -> None:
    notice = Reply("Thông báo của xã", (Button("Khẩn cấp", "menu:emergency"),))
    await enqueue(tg, "-100123", notice, "test:broadcast:1")
    [pushed] = await fake.wait_for(1)
    [data] = keyboard_data(pushed)
    await post(tg, callback_update(data, user_id=8, chat=OTHER_GROUP))
    [refused] = await fake.wait_for(1, "answerCallbackQuery")
    assert "không còn dùng được" in refused.params["text"]
    for member in (8, 9):
        before = len(fake.sent())
        await post(tg, callback_update(data, user_id=member, chat=GROUP))
        answered = await answer_with(fake, "115", before)
        assert answered.chat_id == -100123
