"""Conversations through the real HTTP API of the web chat, and its answers to bad input."""

from __future__ import annotations

import base64

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy import text as sql

from bots.dialogue.base import Router
from bots.server import ASSISTANT
from core.identity import set_language
from core.messages import Reply
from core.models import ConversationState, User
from core.state import State
from tests.support.chat import ChatSession, button_data, deliver_pushes, texts

# The main menu, in order (the services' MenuEntry positions).
SERVICES = (
    "dossier_submit", "dossier_status", "procedure_info", "doctor_ask", "doctor_appointment",
    "emergency", "shop_browse", "order_status", "announcement_latest", "announcement_subscribe",
    "address_code", "report_problem", "tourism_find", "learn_skills", "my_data",
)


async def test_health_and_metrics(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert response.status == 200 and await response.json() == {"status": "ok"}
    session = await ChatSession.open(client)
    await session.say("xin chào")
    metrics = await (await client.get("/metrics")).text()
    assert 'xaso_messages_total{channel="web",status="ok"} 1.0' in metrics
    assert "xaso_outbox_messages" in metrics


async def test_chat_page_is_served(client: TestClient) -> None:
    response = await client.get("/chat")
    assert response.status == 200
    assert "text/html" in response.headers["Content-Type"]
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "xaso-messages" in await response.text()
    assert (await client.get("/static/chat.js")).status == 200


async def test_greeting_shows_the_menu_with_every_service(client: TestClient) -> None:
    session = await ChatSession.open(client)
    replies = await session.say("xin chào")
    assert "Xin chào" in texts(replies)
    assert button_data(replies) == [f"menu:{intent}" for intent in SERVICES]
    for reply in replies:
        assert set(reply) >= {"text", "buttons", "audio_url", "image_url", "document_url"}


async def test_greeting_without_diacritics_and_in_english(client: TestClient) -> None:
    session = await ChatSession.open(client)
    assert "Xin chào" in texts(await session.say("xin chao"))
    english = await ChatSession.open(client, language="en")
    assert "Hello" in texts(await english.say("hello"))


async def test_social_turns(client: TestClient) -> None:
    session = await ChatSession.open(client)
    assert "Không có gì" in texts(await session.say("cảm ơn nhiều nhé"))
    assert "Chào bạn" in texts(await session.say("tạm biệt"))


async def test_every_service_and_staff_command_has_its_flow(client: TestClient) -> None:
    """No menu entry, intent or staff command is left on the "being built" answer."""
    assembly = client.app[ASSISTANT].assembly
    unbuilt = [intent for intent in assembly.menu if "coming_soon" in assembly.intents[intent].__qualname__]
    assert unbuilt == []
    assert set(assembly.access.staff_commands()) <= set(assembly.commands)
    for intent in assembly.menu:  # a fresh visitor each: one visitor this quick would be rate limited
        session = await ChatSession.open(client)
        replies = await session.press(f"menu:{intent}")
        assert replies and "đang được xây dựng" not in texts(replies), intent


async def test_health_services_from_the_menu(client: TestClient) -> None:
    session = await ChatSession.open(client)
    assert "appt:kind:station" in button_data(await session.press("menu:doctor_appointment"))
    assert "115" in texts(await session.press("menu:doctor_ask"))  # built (health.py): consent first


async def test_emergency_answers_115_first(client: TestClient) -> None:
    session = await ChatSession.open(client)
    replies = await session.say("bố tôi đau ngực dữ dội khó thở")
    assert replies[0]["text"].startswith("🚑")
    assert "115" in replies[0]["text"]


async def test_out_of_scope_is_polite_with_the_menu(client: TestClient) -> None:
    session = await ChatSession.open(client)
    replies = await session.say("xổ số hôm nay ra con gì")
    assert "chưa hiểu" in texts(replies)
    assert "menu:dossier_submit" in button_data(replies)


async def test_help_and_cancel_commands(client: TestClient) -> None:
    session = await ChatSession.open(client)
    assert "menu:my_data" in button_data(await session.say("/help"))
    assert "Đã hủy" in texts(await session.say("/cancel"))
    assert "Xin chào" in texts(await session.say("/start"))
    assert "/join" in texts(await session.say("/khongco"))


async def test_language_switch(client: TestClient) -> None:
    session = await ChatSession.open(client)
    assert "English" in texts(await session.say("/lang en"))
    assert "Hello" in texts(await session.say("/start"))


# --- bad input -------------------------------------------------------------------------------------

async def test_malformed_json_is_400(client: TestClient) -> None:
    session = await ChatSession.open(client)
    response = await client.post("/api/chat/messages", data=b"{not json", headers=session.headers)
    assert response.status == 400
    body = await response.json()
    assert body["error"] == "bad_json" and body["message"]


async def test_wrong_shapes_are_400(client: TestClient) -> None:
    session = await ChatSession.open(client)
    for body in ([], "text", {}, {"text": 5}, {"text": "a", "button": "b"}, {"location": {"lat": "x"}},
                 {"location": {"lat": 999, "lon": 0}}, {"attachment": {"filename": "a.jpg"}},
                 {"attachment": {"filename": "a", "content_type": "image/png", "data": "@@@"}},
                 {"button": ""}, {"contact": {"phone": 12}}):
        answer = await session.send(body, expect=400)
        assert answer["error"] == "bad_request" and answer["message"], body


async def test_missing_or_wrong_token_is_401(client: TestClient) -> None:
    response = await client.post("/api/chat/messages", json={"text": "hi"})
    assert response.status == 401
    response = await client.post("/api/chat/messages", json={"text": "hi"},
                                 headers={"Authorization": "Bearer not-a-token"})
    assert response.status == 401
    assert (await response.json())["message"]
    response = await client.get("/api/chat/messages?after=0", headers={"Authorization": "Basic x"})
    assert response.status == 401


async def test_oversized_text_gets_a_polite_413(client: TestClient) -> None:
    session = await ChatSession.open(client)
    answer = await session.send({"text": "a" * 10_000}, expect=413)
    assert "dài quá" in answer["message"]


async def test_oversized_body_is_413_json(client: TestClient) -> None:
    session = await ChatSession.open(client)
    big = base64.b64encode(b"\xff" * (16 * 1024 * 1024)).decode()
    response = await client.post("/api/chat/messages", headers=session.headers,
                                 json={"attachment": {"filename": "a.jpg", "content_type": "image/jpeg",
                                                      "data": big}})
    assert response.status == 413
    assert (await response.json())["error"] == "too_large"


async def test_empty_emoji_and_unknown_button_get_polite_answers(client: TestClient) -> None:
    session = await ChatSession.open(client)
    for text in ("", "   ", "😀😀😀", "???"):
        replies = await session.say(text)
        assert replies and "menu:dossier_submit" in button_data(replies), text
    replies = await session.press("xyz:forged:data")
    assert "cũ" in texts(replies)
    replies = await session.press("menu:not_a_service")
    assert "cũ" in texts(replies)


async def test_duplicate_client_message_id_is_handled_once(client: TestClient, database) -> None:
    session = await ChatSession.open(client)
    first = await session.send({"text": "xin chào", "id": "m-1"})
    second = await session.send({"text": "xin chào", "id": "m-1"})
    assert first["replies"] and second["replies"] == []


async def test_a_failing_flow_answers_politely_and_writes_nothing(client: TestClient, database,
                                                                   monkeypatch) -> None:
    session = await ChatSession.open(client)

    async def failing_route(self, context):
        context.set_state(State("half-written", {"x": 1}))
        await set_language(context.session, context.identity.id, "en")
        raise RuntimeError("boom")

    monkeypatch.setattr(Router, "route", failing_route)
    answer = await session.send({"text": "xin chào"})
    monkeypatch.undo()
    assert "trục trặc" in texts(answer["replies"])
    assert "Traceback" not in texts(answer["replies"]) and "boom" not in texts(answer["replies"])
    async with database.session() as db:
        assert (await db.execute(select(func.count()).select_from(ConversationState))).scalar_one() == 0
        assert (await db.execute(select(User.language))).scalar_one() == "vi"


async def test_pushed_messages_after_id(client: TestClient, database) -> None:
    session = await ChatSession.open(client)
    assistant = client.app[ASSISTANT]
    async with database.session() as db:
        for n in range(3):
            await assistant.services.outbox.enqueue(db, channel="web", chat_id=session.user_id,
                                                    reply=Reply(f"thông báo {n}"), key=f"note-{n}")
    await deliver_pushes(assistant)
    messages = await session.pushed()
    assert [m["text"] for m in messages] == ["thông báo 0", "thông báo 1", "thông báo 2"]
    async with database.session() as db:  # sealed at rest in both tables
        for table in ("outbox", "web_inbox"):
            rows = (await db.execute(sql(f"SELECT payload FROM {table}"))).all()  # noqa: S608
            assert len(rows) == 3 and "thông báo" not in str(rows), table
    assert await session.pushed(after=messages[1]["id"]) == messages[2:]
    response = await client.get("/api/chat/messages?after=abc", headers=session.headers)
    assert response.status == 400
