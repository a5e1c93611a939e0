"""Logging in to the staff dashboard the way staff do: `/dashboard` in the web chat, then the one-time
link pushed through the outbox."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from bots.server import ASSISTANT
from core.identity import create_invite
from tests.support.chat import ChatSession, deliver_pushes, texts

LINK = re.compile(r"https?://\S+/dashboard/login\?token=([A-Za-z0-9_-]+)")
HIDDEN = re.compile(r'name="csrf" value="([^"]+)"')


async def member(client: TestClient, role: str = "staff") -> ChatSession:
    """A web chat user who joined with an invite for `role`."""
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        code = await create_invite(session, assistant.services.hasher, role, created_by="test")
    chat = await ChatSession.open(client)
    await chat.say(f"/join {code}")
    return chat


async def login_token(client: TestClient, chat: ChatSession) -> str:
    """Asks for a link in chat and reads the token from the message pushed through the outbox."""
    replies = await chat.say("/dashboard")
    assert "đường dẫn" in texts(replies).lower(), texts(replies)
    assistant = client.app[ASSISTANT]
    await deliver_pushes(assistant)
    found = [LINK.search(message["text"]) for message in await chat.pushed()]
    tokens = [match.group(1) for match in found if match]
    assert tokens, "no login link was pushed"
    return tokens[-1]


async def open_link(client: TestClient, token: str, expect: int = 303) -> str:
    """Opens the login page and presses its button; returns the page's CSRF token after login."""
    form = await client.get(f"/dashboard/login?token={token}")
    assert form.status == 200, await form.text()
    csrf = HIDDEN.search(await form.text())
    assert csrf is not None
    response = await client.post("/dashboard/login", data={"token": token, "csrf": csrf.group(1)},
                                 allow_redirects=False)
    assert response.status == expect, (response.status, await response.text())
    if expect != 303:
        return ""
    page = await client.get("/dashboard")
    assert page.status == 200
    found = HIDDEN.search(await page.text())
    assert found is not None
    return found.group(1)


async def logged_in_staff(client: TestClient, role: str = "staff") -> tuple[ChatSession, str]:
    chat = await member(client, role)
    return chat, await open_link(client, await login_token(client, chat))
