"""People of one commune in a province's installation (XASO_COMMUNES=LB,SM), as the tests make them."""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from core.identity import create_invite
from tests.support.chat import ChatSession, texts

# A province's installation of La Bằng and Sảng Mộc, as the tests serve it: `settings.model_copy(update=
# PROVINCE)` (the rate limits let one test's many villagers open sessions from one address).
PROVINCE = {"communes": "LB,SM", "rate_limit_burst": 400, "rate_limit_per_minute": 1200}


async def villager_in(client: TestClient, commune: str) -> ChatSession:
    """A web chat villager of `commune` (the commune's own entry link: nothing asked)."""
    return await ChatSession.open(client, commune=commune)


async def joins_in(client: TestClient, commune: str, role: str) -> ChatSession:
    """Someone of `commune` who redeems an invite for `role` there (`xaso invite ROLE --commune`)."""
    from bots.server import ASSISTANT

    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        code = await create_invite(session, assistant.services.hasher, role, created_by="test",
                                   commune=commune)
    person = await villager_in(client, commune)
    assert "Xong!" in texts(await person.say(f"/join {code}"))
    return person
