"""A villager in the web chat and what the service holds for them (their open form, consents), and
the notices that ask them something later (a rating after delivery, "is it fixed?") with how their
answer was taken. Shared by the typed-answer tests and the last mile."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from backends.onestop.calendar import load_calendar
from backends.onestop.catalogue import load_catalogue
from backends.onestop.ratings import rating_of
from backends.onestop.store import Dossier, Submission, create_dossier
from backends.reports.store import Place, Report, open_report, resolve
from bots.assistant import Assistant
from bots.server import ASSISTANT
from bots.services.dossiers.rating import rating_buttons
from bots.services.reports.notify import notify_reporters
from core.consent import has_consent
from core.identity import find_user
from core.messages import Reply
from core.state import State, load_state
from core.timezones import VIETNAM
from tests.support.chat import ChatSession, wait_for_pushes

# A Monday, early: the roster's week lies ahead (station Mon–Fri 07:30…16:00).
MONDAY = dt.datetime(2027, 3, 1, 6, 0, tzinfo=VIETNAM)
NOT_UNDERSTOOD = "?"


class Villager:
    """One fresh web chat session and what the service holds for it."""

    def __init__(self, client: TestClient, chat: ChatSession) -> None:
        self.client, self.chat = client, chat
        self.assistant: Assistant = client.app[ASSISTANT]

    @classmethod
    async def open(cls, client: TestClient) -> Villager:
        return cls(client, await ChatSession.open(client))

    async def say(self, text: str) -> list[dict[str, Any]]:
        return await self.chat.say(text)

    async def press(self, data: str) -> list[dict[str, Any]]:
        return await self.chat.press(data)

    async def user_id(self) -> int:
        async with self.assistant.database.session() as session:
            found = await find_user(session, "web", self.chat.user_id)
            assert found is not None
            return found.id

    async def state(self) -> State | None:
        user_id = await self.user_id()
        async with self.assistant.database.session() as session:
            return await load_state(session, user_id, self.assistant.services.cipher)

    async def consent(self, purpose: str) -> bool:
        user_id = await self.user_id()
        async with self.assistant.database.session() as session:
            return await has_consent(session, user_id, purpose)

    async def form_value(self, field: str) -> str:
        """The value the open form holds for `field`: `skip` when skipped, `?` when not answered."""
        state = await self.state()
        if state is None or state.flow != "form":
            return "cancelled" if state is None else f"({state.flow})"
        values = state.data["form"]["values"]
        if field not in values:
            return NOT_UNDERSTOOD
        value = values[field]
        return "skip" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


async def pushed_question(v: Villager, reply: Reply, key: str) -> list[dict[str, Any]]:
    services = v.assistant.services
    user_id = await v.user_id()
    async with v.assistant.database.session() as session:
        await services.outbox.enqueue(session, channel="web", chat_id=v.chat.user_id, user_id=user_id,
                                      reply=reply, key=key)
    await v.assistant.services.outbox.wake("web")
    notices = await wait_for_pushes(v.assistant, v.chat, lambda found: bool(found))
    assert notices and notices[-1]["buttons"], notices
    return notices


async def report_fixed(v: Villager) -> list[dict[str, Any]]:
    await v.say("xin chào")
    services, user_id = v.assistant.services, await v.user_id()
    now = dt.datetime.now(dt.UTC)
    async with v.assistant.database.session() as session:
        report, _ = await open_report(session, services.cipher, kind="road", description="Ổ gà to giữa đường",
                                      photo_id=None, place=Place("kem"), reporter_id=user_id, channel="web",
                                      now=now)
        event = await resolve(session, services.cipher, report, staff_id=user_id, note="Đã vá đường",
                              photo_id=None, now=now)
        await notify_reporters(session, services, report, event)
    await v.assistant.services.outbox.wake("web")
    notices = await wait_for_pushes(v.assistant, v.chat, lambda found: bool(found))
    assert any(b["data"].startswith("report:fixed:") for b in notices[-1]["buttons"]), notices
    return notices


async def rating_notice(v: Villager) -> list[dict[str, Any]]:
    await v.say("xin chào")
    services, user_id = v.assistant.services, await v.user_id()
    data = services.settings.data_dir
    procedure = load_catalogue(data / "procedures.yml").get("marital_status")
    assert procedure is not None
    async with v.assistant.database.session() as session:
        dossier = await create_dossier(session, services.cipher, load_calendar(data / "holidays.yml"),
                                       commune="LB", submission=Submission(procedure, user_id, {}))
        dossier.status = "delivered"
        code = dossier.code
    reply = Reply(f"Hồ sơ {code} đã trả kết quả. Bạn chấm điểm giúp xã nhé:", rating_buttons(code))
    return await pushed_question(v, reply, f"test-rating:{code}")


async def fix_answer(v: Villager, replies: list[dict[str, Any]]) -> str:
    user_id = await v.user_id()
    async with v.assistant.database.session() as session:
        report = (await session.execute(select(Report).where(Report.reporter_id == user_id))).scalar_one()
    return {"closed": "yes", "assigned": "no"}.get(report.status, NOT_UNDERSTOOD)


async def rating_given(v: Villager, replies: list[dict[str, Any]]) -> str:
    user_id = await v.user_id()
    async with v.assistant.database.session() as session:
        dossier = (await session.execute(select(Dossier).where(Dossier.user_id == user_id))).scalar_one()
        found = await rating_of(session, dossier.id)
    return str(found.rating) if found else NOT_UNDERSTOOD
