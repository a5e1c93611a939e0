"""The provincial one-stop system, both ways, through the real app on loopback: signed status updates
in (`POST /hooks/onestop`), signed dossier events out (the outbox's `onestop` sender)."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from backends.onestop.store import Dossier, DossierEvent
from bots.server import ASSISTANT
from core.config import Settings
from core.db import Database
from core.models import AuditEntry, OutboxMessage
from core.security import sign_standard_webhook, verify_standard_webhook
from tests.support.chat import pushed_now, texts
from tests.support.dossiers import submit
from tests.support.loopback import serve_on_loopback
from tests.support.roles import staff_joins

SECRET = "whsec_" + base64.b64encode(b"provincial one-stop test key 32b").decode()
PATIENCE = 10.0


@dataclass
class Receiver:
    """The provincial system's end: checks our signatures, answers from `answers` first, then 200."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    deliveries: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)  # answer, id, body
    forged: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_standard_webhook(request.headers, body, SECRET, time.time()):
            self.forged += 1
            return web.Response(status=401)
        status = self.answers.pop(0) if self.answers else 200
        self.deliveries.append((status, request.headers["webhook-id"], json.loads(body)))
        self.arrived.set()
        return web.Response(status=status)

    def delivered(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [body for status, _, body in self.deliveries
                if status == 200 and (kind is None or body["type"] == kind)]

    async def wait_for(self, count: int, kind: str | None = None, *, answered: bool = True
                       ) -> list[dict[str, Any]]:
        """The first `count` deliveries of `kind` answered 200 (or, `answered` False, any)."""
        async with asyncio.timeout(PATIENCE):
            while len(found := self.delivered(kind) if answered else self.deliveries) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return found


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/events", found.handle)
    runner, port = await serve_on_loopback(app)
    found.url = f"http://127.0.0.1:{port}/events"
    yield found
    await runner.cleanup()


@pytest.fixture
def settings(settings: Settings, receiver: Receiver) -> Settings:
    return settings.model_copy(update={
        "rate_limit_burst": 400, "rate_limit_per_minute": 1200,
        "hook_secrets": {"onestop": SecretStr(SECRET)}, "onestop_webhook_url": receiver.url,
        "outbox_base_delay": 0.05, "outbox_max_delay": 0.2,
    })


def delivery(data: dict[str, Any], msg_id: str = "msg_1", *, at: float | None = None,
             kind: str = "dossier.status") -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"type": kind, "data": data}).encode()
    return body, sign_standard_webhook(msg_id, int(at or time.time()), body, SECRET)


async def post(client: TestClient, body: bytes, headers: dict[str, str], source: str = "onestop",
               expect: int = 200) -> Any:
    response = await client.post(f"/hooks/{source}", data=body,
                                 headers={**headers, "Content-Type": "application/json"})
    text = await response.text()
    assert response.status == expect, (response.status, text)
    return json.loads(text) if text else None


async def events(database: Database, code: str) -> list[tuple[str, str]]:
    async with database.session() as session:
        query = (select(DossierEvent.status, DossierEvent.actor).join(Dossier)
                 .where(Dossier.code == code).order_by(DossierEvent.id))
        return [(status, actor) for status, actor in (await session.execute(query)).all()]


async def test_a_status_update_moves_the_dossier_and_tells_the_citizen(
        client: TestClient, database: Database, receiver: Receiver) -> None:
    citizen, code = await submit(client)
    seen = len(await pushed_now(client, citizen))
    body, headers = delivery({"code": code, "status": "needs_info", "note": "Thiếu bản sao CCCD của mẹ"})
    assert await post(client, body, headers) == {"status": "ok", "code": code, "dossier_status": "needs_info"}
    history = await events(database, code)
    assert [status for status, _ in history] == ["received", "processing", "needs_info"]
    assert [actor for _, actor in history[1:]] == ["system:onestop"] * 2
    notices = await pushed_now(client, citizen, seen)
    assert code in texts(notices) and "Thiếu bản sao CCCD của mẹ" in texts(notices)
    assert f"dossier-reply:{code}" in [b["data"] for n in notices for b in n["buttons"]]
    async with database.session() as session:
        audited = (await session.execute(select(AuditEntry.actor, AuditEntry.outcome).where(
            AuditEntry.action == "dossier.transition"))).all()
    assert [tuple(row) for row in audited] == [("system:onestop", "ok")] * 2
    # The provincial system's own changes are not echoed back to it; the new dossier was sent.
    await receiver.wait_for(1, "dossier.created")
    await asyncio.sleep(0.3)
    assert receiver.delivered("dossier.status") == []


async def test_the_same_delivery_twice_has_one_effect(client: TestClient, database: Database) -> None:
    citizen, code = await submit(client)
    body, headers = delivery({"code": code, "status": "processing"}, "msg_twice")
    assert (await post(client, body, headers))["status"] == "ok"
    assert await post(client, body, headers) == {"status": "duplicate"}
    # Re-signed later (a retry carries a new timestamp), still the same webhook-id.
    _, again = delivery({"code": code, "status": "processing"}, "msg_twice", at=time.time() + 5)
    assert await post(client, body, again) == {"status": "duplicate"}
    assert [status for status, _ in await events(database, code)] == ["received", "processing"]
    async with database.session() as session:
        notices = (await session.execute(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.chat_id == citizen.user_id, OutboxMessage.key.like("dossier-event:%"))
        )).scalar_one()
    assert notices == 1


async def test_bad_signatures_are_401_without_detail_and_counted(client: TestClient,
                                                                database: Database) -> None:
    _, code = await submit(client)
    body, headers = delivery({"code": code, "status": "processing"})
    forged = {**headers, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}
    stale = delivery({"code": code, "status": "processing"}, "msg_old", at=time.time() - 301)[1]
    for case_body, case_headers in ((body, forged), (body + b" ", headers), (body, stale),
                                    (body, {"Content-Type": "application/json"}),
                                    (b"not json", forged)):
        response = await client.post("/hooks/onestop", data=case_body, headers=case_headers)
        assert response.status == 401
        assert await response.json() == {"error": "unauthorized"}  # no detail
    assert [status for status, _ in await events(database, code)] == ["received"]
    metrics = await (await client.get("/metrics")).text()
    assert 'xaso_webhook_rejections_total{reason="signature",source="onestop"} 5.0' in metrics
    assert (await client.post("/hooks/elsewhere", data=body, headers=headers)).status == 404
    assert 'xaso_webhook_rejections_total{reason="unknown_source",source="unknown"} 1.0' in \
        await (await client.get("/metrics")).text()


async def test_malformed_bodies_are_400(client: TestClient) -> None:
    for number, raw in enumerate((b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"",
                                  b'{"type": "dossier.status", "data": []}',
                                  b'{"type": "dossier.status", "data": {"code": 7, "status": "approved"}}',
                                  b'{"type": "dossier.status", "data": {"code": "LB-2026-000001"}}')):
        headers = sign_standard_webhook(f"msg_bad_{number}", int(time.time()), raw, SECRET)
        assert await post(client, raw, headers, expect=400) == {"error": "malformed"}


async def test_unknown_dossiers_and_impossible_moves_are_422(client: TestClient, database: Database) -> None:
    _, code = await submit(client)
    cases = [({"code": "LB-2026-999999", "status": "processing"}, {"error": "unknown_dossier"}),
             ({"code": code, "status": "delivered"}, {"error": "impossible", "current": "received"}),
             ({"code": code, "status": "rejected"}, {"error": "note_required", "current": "received"}),
             ({"code": code, "status": "lost"}, {"error": "unknown_status"})]
    for number, (data, answer) in enumerate(cases):
        body, headers = delivery(data, f"msg_422_{number}")
        assert await post(client, body, headers, expect=422) == answer
        # Refused deliveries leave no trace: the same one is refused again, not taken as a repeat.
        assert await post(client, body, headers, expect=422) == answer
    body, headers = delivery({"code": code}, "msg_other_type", kind="dossier.deleted")
    assert await post(client, body, headers, expect=422) == {"error": "unknown_type"}
    assert [status for status, _ in await events(database, code)] == ["received"]


async def test_new_dossiers_and_decisions_are_sent_signed(client: TestClient, receiver: Receiver) -> None:
    _, code = await submit(client)
    [created] = await receiver.wait_for(1, "dossier.created")
    assert created["data"]["code"] == code and created["data"]["status"] == "received"
    assert created["data"]["commune"] == "LB"
    assert set(created["data"]) == {"commune", "code", "procedure", "status", "submitted_at",
                                    "due_date"}  # no PII
    official = await staff_joins(client)
    assert code in texts(await official.say(f"/reject {code} Giấy tờ không hợp lệ"))
    moves = await receiver.wait_for(2, "dossier.status")
    assert [(m["data"]["previous"], m["data"]["status"], m["data"]["note"]) for m in moves] == [
        ("received", "processing", None), ("processing", "rejected", "Giấy tờ không hợp lệ")]
    assert receiver.forged == 0
    ids = [msg_id for _, msg_id, _ in receiver.deliveries]
    assert len(set(ids)) == 3 and all(msg_id.startswith(f"msg_{code}.") for msg_id in ids)


async def test_a_failed_delivery_is_retried_and_arrives_once(client: TestClient, receiver: Receiver) -> None:
    receiver.answers = [500, 429]
    _, code = await submit(client)
    [created] = await receiver.wait_for(1, "dossier.created")
    assert created["data"]["code"] == code
    assert [status for status, _, _ in receiver.deliveries] == [500, 429, 200]
    assert len({msg_id for _, msg_id, _ in receiver.deliveries}) == 1  # one webhook-id across retries
    await asyncio.sleep(0.5)
    assert len(receiver.delivered()) == 1
    async with client.app[ASSISTANT].database.session() as session:
        query = select(OutboxMessage).where(OutboxMessage.channel == "onestop")
        row = (await session.execute(query)).scalar_one()
    assert (row.status, row.attempts) == ("sent", 2)


async def test_a_refusing_receiver_gets_no_retries(client: TestClient, receiver: Receiver) -> None:
    receiver.answers = [400]
    await submit(client)
    await receiver.wait_for(1, answered=False)
    await asyncio.sleep(0.5)
    assert [status for status, _, _ in receiver.deliveries] == [400]
    dead = await client.app[ASSISTANT].services.outbox.dead_letters("onestop")
    assert [letter.last_error for letter in dead] == ["http 400"]


async def test_a_source_without_a_secret_is_closed(client: TestClient) -> None:
    client.app[ASSISTANT].settings.hook_secrets.pop("onestop")
    body, headers = delivery({"code": "LB-2026-000001", "status": "processing"})
    response = await client.post("/hooks/onestop", data=body, headers=headers)
    assert (response.status, await response.json()) == (401, {"error": "unauthorized"})
    assert 'xaso_webhook_rejections_total{reason="no_secret",source="onestop"} 1.0' in \
        await (await client.get("/metrics")).text()
