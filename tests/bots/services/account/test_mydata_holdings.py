"""/mydata reads what each service declares it holds (`Holdings`, bots/dialogue/service.py), and nothing
else: a service added from its own package, which keeps reminders for villagers, shows on the card and
in the export, is listed in the deletion warning, erased inside the account's savepoint (its farewell
line after the others', its follow-up work after the commit), and a failure of its step undoes the
whole erasure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bots.assistant import Assistant
from bots.dialogue.base import Context
from bots.dialogue.service import Erased, Holdings, Service
from bots.server import create_app
from bots.services.assembly import SERVICES
from bots.services.kit import Kit
from core.config import Settings
from core.db import Database
from core.identity import find_user
from core.models import User
from nlu.engine import NLUEngine
from tests.support.chat import ChatSession, button_data, texts


class Reminders:
    """A service keeping reminders in memory, per user id, and recording what /mydata asked of it."""

    def __init__(self, *, broken: bool = False) -> None:
        self.kept: dict[int, list[str]] = {}
        self.broken = broken
        self.followed_up: list[tuple[int, bool]] = []  # (user id, inside a savepoint)

    async def summary(self, context: Context) -> list[str]:
        return [f"• Lời nhắc: {len(self.kept.get(context.identity.id, []))}"]

    async def export(self, context: Context) -> list[str]:
        return self.kept.get(context.identity.id, [])

    async def open_items(self, context: Context) -> list[str]:
        return [f"⏰ Lời nhắc «{what}»: sẽ bị xóa." for what in self.kept.get(context.identity.id, [])]

    async def erase(self, context: Context) -> Erased:
        if self.broken:
            raise RuntimeError("disk full")
        gone = self.kept.pop(context.identity.id, [])

        async def follow_up(context: Context) -> None:
            self.followed_up.append((context.identity.id, context.session.in_nested_transaction()))

        return Erased(done=[f"⏰ Đã xóa {len(gone)} lời nhắc."], after=(follow_up,))

    def unit(self) -> Any:
        def service(kit: Kit) -> Service:
            return Service("reminders", holdings=Holdings(
                position=60, summary=self.summary, export={"reminders": self.export},
                open_items=self.open_items, erase=self.erase))

        return SimpleNamespace(TABLES=(), service=service)


@pytest.fixture
async def running(settings: Settings, database: Database,
                  nlu_engine: NLUEngine) -> AsyncIterator[Any]:
    """Builds the assistant with a `Reminders` inserted before the menu; yields a starter."""
    clients: list[TestClient] = []

    async def start(reminders: Reminders) -> TestClient:
        units = (*SERVICES[:-1], reminders.unit(), SERVICES[-1])
        assistant = Assistant.build(settings, nlu=nlu_engine, database=database, units=units)
        client = TestClient(TestServer(create_app(assistant)))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


async def user_of(database: Database, villager: ChatSession) -> User | None:
    async with database.session() as session:
        return await find_user(session, "web", villager.user_id)


async def test_mydata_shows_exports_warns_and_erases_what_a_service_declares(running: Any,
                                                                             database: Database) -> None:
    reminders = Reminders()
    client = await running(reminders)
    villager = await ChatSession.open(client)
    await villager.say("/start")
    user = await user_of(database, villager)
    assert user is not None
    reminders.kept[user.id] = ["tiêm phòng cho cháu"]

    card = texts(await villager.say("/mydata"))
    assert card.endswith("\n• Lời nhắc: 1"), card
    (reply,) = await villager.press("mydata:export")
    response = await client.get(reply["document_url"].split("8080", 1)[1])
    document = await response.json(content_type=None)
    assert document["reminders"] == ["tiêm phòng cho cháu"]
    assert list(document)[:5] == ["user", "roles", "consents", "files", "conversation"]  # the account's first

    warning = await villager.press("mydata:delete")
    assert "⚠️ Bạn còn việc đang dở. Nếu xóa:\n⏰ Lời nhắc «tiêm phòng cho cháu»: sẽ bị xóa." in texts(warning)
    assert button_data(warning)[:2] == ["mydata:delete-confirm", "mydata:keep"]

    farewell = texts(await villager.press("mydata:delete-confirm"))
    assert farewell.startswith("Đã xóa dữ liệu") and farewell.endswith("\n\n⏰ Đã xóa 1 lời nhắc."), farewell
    assert reminders.kept == {}
    assert reminders.followed_up == [(user.id, False)]  # once, after the savepoint was released
    assert await user_of(database, villager) is None


async def test_a_failing_step_of_a_declared_holding_erases_nothing(running: Any, database: Database) -> None:
    reminders = Reminders(broken=True)
    client = await running(reminders)
    villager = await ChatSession.open(client)
    await villager.say("/start")
    user = await user_of(database, villager)
    assert user is not None
    reminders.kept[user.id] = ["họp thôn"]

    failed = await villager.press("mydata:delete-confirm")
    assert "chưa xóa được" in texts(failed) and button_data(failed)[0] == "mydata:delete"
    assert await user_of(database, villager) is not None
    assert reminders.kept == {user.id: ["họp thôn"]} and reminders.followed_up == []
