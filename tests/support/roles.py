"""People joining with a role through the web chat: an invite made in the database, then `/join`."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from bots.server import ASSISTANT
from core.identity import create_invite
from tests.support.chat import ChatSession, texts


async def invite(client: TestClient, role: str) -> str:
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        return await create_invite(session, assistant.services.hasher, role, created_by="test")


async def staff_joins(client: TestClient) -> ChatSession:
    official = await ChatSession.open(client)
    assert "cán bộ" in texts(await official.say(f"/join {await invite(client, 'staff')}"))
    return official


async def doctor_joins(client: TestClient) -> ChatSession:
    doctor = await ChatSession.open(client)
    assert "bác sĩ" in texts(await doctor.say(f"/join {await invite(client, 'doctor')}"))
    return doctor
