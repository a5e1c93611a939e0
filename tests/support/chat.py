"""A full-stack conversation helper: a web chat session over real HTTP; send, read the replies."""

from __future__ import annotations

import asyncio
import base64
import io
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp.test_utils import TestClient
from PIL import Image

if TYPE_CHECKING:
    from bots.assistant import Assistant


async def deliver_pushes(assistant: Assistant, seconds: float = 5.0) -> None:
    """Delivers what the outbox holds for the web chat now. The test server's own sender may have
    claimed a message a moment earlier, and a chat's later messages wait for it: deliver again until
    nothing is in flight, so nothing is missed."""
    from bots.webchat import WebInboxSender

    sender = WebInboxSender(assistant.database, assistant.services.cipher)
    outbox = assistant.services.outbox
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        await outbox.flush(sender, max(0.1, deadline - loop.time()))
        if not (await outbox.stats())["sending"] or loop.time() > deadline:
            break
        await asyncio.sleep(0.02)
    await outbox.flush(sender, 1.0)


async def wait_for_pushes(assistant: Assistant, chat: ChatSession,
                          ready: Callable[[list[dict[str, Any]]], bool],
                          seconds: float = 15.0) -> list[dict[str, Any]]:
    """The chat's pushed messages once `ready` holds for them, or as they are when time runs out: a
    notice may still be on its way (the server's own sender), so one delivery is not always enough."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        await deliver_pushes(assistant)
        found = await chat.pushed()
        if ready(found) or loop.time() > deadline:
            return found
        await asyncio.sleep(0.05)


class ChatSession:
    def __init__(self, client: TestClient, token: str, user_id: str) -> None:
        self.client = client
        self.token = token
        self.user_id = user_id
        self._nodes: Iterator[TestClient] | None = None

    def roam(self, nodes: Sequence[TestClient]) -> ChatSession:
        """From now on each request goes to the next of `nodes` in turn, as behind a load balancer
        (nodes of one installation sharing a database)."""
        self._nodes = itertools.cycle(nodes)
        return self

    def _node(self) -> TestClient:
        return next(self._nodes) if self._nodes is not None else self.client

    @classmethod
    async def open(cls, client: TestClient, language: str = "vi", commune: str | None = None) -> ChatSession:
        """A new web chat session; of `commune` when given (a province's commune entry link)."""
        body = {"language": language, **({"commune": commune} if commune else {})}
        response = await client.post("/api/chat/sessions", json=body)
        assert response.status == 200, await response.text()
        body = await response.json()
        return cls(client, body["token"], body["user_id"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def send(self, body: dict[str, Any], expect: int = 200) -> dict[str, Any]:
        response = await self._node().post("/api/chat/messages", json=body, headers=self.headers)
        assert response.status == expect, (response.status, await response.text())
        return await response.json()

    async def say(self, text: str) -> list[dict[str, Any]]:
        return (await self.send({"text": text}))["replies"]

    async def press(self, data: str) -> list[dict[str, Any]]:
        return (await self.send({"button": data}))["replies"]

    async def pushed(self, after: int = 0) -> list[dict[str, Any]]:
        response = await self._node().get(f"/api/chat/messages?after={after}", headers=self.headers)
        assert response.status == 200
        return (await response.json())["messages"]


def texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(reply["text"] for reply in replies)


def button_data(replies: list[dict[str, Any]]) -> list[str]:
    return [button["data"] for reply in replies for button in reply["buttons"]]


def jpeg(colour: tuple[int, int, int] = (30, 120, 200)) -> dict[str, dict[str, str]]:
    """A small JPEG photo as the web chat API takes an attachment (`ChatSession.send`)."""
    buffer = io.BytesIO()
    Image.new("RGB", (80, 60), colour).save(buffer, "JPEG")
    data = base64.b64encode(buffer.getvalue()).decode()
    return {"attachment": {"filename": "giay.jpg", "content_type": "image/jpeg", "data": data}}


async def pushed_now(client: TestClient, chat: ChatSession, seen: int = 0) -> list[dict[str, Any]]:
    """What the outbox pushed to `chat` after the first `seen`, once delivered now."""
    from bots.server import ASSISTANT

    assistant = client.app[ASSISTANT]
    await deliver_pushes(assistant)
    return (await chat.pushed())[seen:]
