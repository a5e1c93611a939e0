"""A form run through the real web chat API, including a server restart in the middle."""

from __future__ import annotations

import base64
import io
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from sqlalchemy import func, select, text

from bots.assistant import Assistant
from bots.dialogue.base import Context
from bots.server import ASSISTANT, create_app
from core.config import Settings
from core.db import Database
from core.messages import Reply
from core.models import Media
from nlu.engine import NLUEngine
from tests.support.chat import ChatSession, button_data, texts

COMPLETED: list[dict[str, Any]] = []


def with_example_form(assistant: Assistant) -> Assistant:
    """A test flow: `/example` opens data/forms/example.yml; completion records the values."""
    forms = assistant.services.forms

    async def done(context: Context, values: dict[str, Any]) -> list[Reply]:
        COMPLETED.append(values)
        return [Reply("Đã ghi nhận.")]

    async def open_form(context: Context) -> list[Reply]:
        return await forms.start(context, "example_registration", then="example")

    forms.on_complete("example", done)
    assistant.router.commands["/example"] = open_form
    return assistant


def build(settings: Settings, database: Database, nlu: NLUEngine) -> Any:
    return create_app(with_example_form(Assistant.build(settings, nlu=nlu, database=database)))


def jpeg() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG")
    return base64.b64encode(buffer.getvalue()).decode()


async def test_form_survives_a_restart_and_completes(settings: Settings, database: Database,
                                                     nlu_engine: NLUEngine) -> None:
    COMPLETED.clear()
    async with TestClient(TestServer(build(settings, database, nlu_engine))) as first:
        chat = await ChatSession.open(first)
        assert "Họ và tên" in texts(await chat.say("/example"))
        await chat.say("nguyễn văn an")
        assert "12 số" in texts(await chat.say("15/10/1990"))
        token = chat.token
    # A new process: same database, new app, same session token.
    async with TestClient(TestServer(build(settings, database, nlu_engine))) as second:
        chat = ChatSession(second, token, chat.user_id)
        assert "12" in texts(await chat.say("12345"))  # invalid: asked again, state kept
        await chat.say("001090012345")
        assert "căn cước" in texts(await chat.say("quay lại"))  # back to the ID question
        await chat.say("001090012345")
        replies = await chat.say("0912345678")
        assert "form:choice:dong" in button_data(replies)
        await chat.press("form:choice:dong")
        photo = await chat.send({"attachment": {"filename": "x.jpg", "content_type": "image/jpeg",
                                                "data": jpeg()}})
        assert "form:confirm" in button_data(photo["replies"])
        assert "Đã ghi nhận" in texts(await chat.press("form:confirm"))
    assert COMPLETED[0]["full_name"] == "Nguyễn Văn An"
    assert COMPLETED[0]["citizen_id"] == "001090012345" and COMPLETED[0]["hamlet"] == "dong"
    async with database.session() as db:
        assert (await db.execute(select(func.count()).select_from(Media))).scalar_one() == 1


async def test_cancel_anywhere_and_a_bad_photo(client: TestClient) -> None:
    with_example_form(client.app[ASSISTANT])
    chat = await ChatSession.open(client)
    await chat.say("/example")
    assert "Đã hủy" in texts(await chat.say("huy"))
    await chat.say("/example")
    for answer in ("Trần Thị Bình", "1/1/1980", "001080012345", "0987654321"):
        await chat.say(answer)
    await chat.press("form:choice:dong")
    fake = base64.b64encode(b"MZ\x90\x00 not an image").decode()
    bad = await chat.send({"attachment": {"filename": "a.jpg", "content_type": "image/jpeg", "data": fake}})
    assert bad["replies"] and "form:confirm" not in button_data(bad["replies"])
    assert "Đã hủy" in texts(await chat.say("/cancel"))


async def test_a_half_filled_form_is_sealed_at_rest(client: TestClient, database: Database) -> None:
    with_example_form(client.app[ASSISTANT])
    chat = await ChatSession.open(client)
    await chat.say("/example")
    for answer in ("Lê Văn Cường", "2/3/1975", "001075012345"):
        await chat.say(answer)
    async with database.session() as db:
        rows = (await db.execute(text("SELECT * FROM conversation_states"))).all()
    raw = " ".join(str(row) for row in rows)
    assert "001075012345" not in raw and "Cường" not in raw and "sealed" in raw
    assert "căn cước" in texts(await chat.say("quay lại"))  # and it still reads back
