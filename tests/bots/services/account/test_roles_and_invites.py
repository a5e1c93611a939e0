"""Roles end to end: invites, /join, role checks on commands and forged buttons, /revoke."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bots.server import ASSISTANT
from core.audit import AuditLog
from core.db import Database
from core.identity import create_invite, redeem_invite, resolve_user
from core.models import AuditEntry, User
from tests.support.chat import ChatSession, deliver_pushes, texts
from tests.support.roles import invite


async def test_join_grants_the_role_once(client: TestClient) -> None:
    code = await invite(client, "staff")
    official, other = await ChatSession.open(client), await ChatSession.open(client)
    assert "không có quyền" in texts(await official.say("/dossiers"))
    assert "cán bộ" in texts(await official.say(f"/join {code.lower()}"))
    assert "không có quyền" not in texts(await official.say("/dossiers"))
    assert "đã được dùng" in texts(await other.say(f"/join {code}"))
    assert "không có quyền" in texts(await other.say("/dossiers"))
    assert "không đúng" in texts(await other.say("/join NOPE-NOPE"))
    assert "/join MÃ-MỜI" in texts(await other.say("/join"))


async def test_expired_invite_is_refused(database: Database) -> None:
    from core.crypto import Hasher

    hasher = Hasher(b"k")
    async with database.session() as session:
        code = await create_invite(session, hasher, "doctor", "test", lifetime=timedelta(seconds=-1))
        user = await resolve_user(session, "web", "u")
        outcome = await redeem_invite(session, hasher, code, user.id)
    assert not outcome.ok and outcome.reason == "expired"


async def test_forged_staff_buttons_are_denied_and_audited(client: TestClient, database: Database) -> None:
    citizen = await ChatSession.open(client)
    for data in ("staff:approve:LB-2026-000001", "admin:revoke:1", "doctor:answer:1", "seller:ship:DH-1"):
        assert "không có quyền" in texts(await citizen.press(data))
    async with database.session() as session:
        denials = (await session.execute(select(AuditEntry).where(AuditEntry.outcome == "deny"))).scalars()
        assert {entry.subject for entry in denials} == {"button:staff", "button:admin", "button:doctor",
                                                         "button:seller"}


async def test_admin_invites_and_revokes_in_chat(client: TestClient, database: Database) -> None:
    admin, helper = await ChatSession.open(client), await ChatSession.open(client)
    await admin.say(f"/join {await invite(client, 'admin')}")
    answer = texts(await admin.say("/invite seller"))
    code = answer.split("/join ")[-1].strip()
    assert "người bán" in texts(await helper.say(f"/join {code}"))
    assert "không có quyền" not in texts(await helper.say("/orders"))
    async with database.session() as session:
        query = select(User.id).where(User.external_id == helper.user_id)
        helper_id = (await session.execute(query)).scalar_one()
    assert "Đã thu hồi 1" in texts(await admin.say(f"/revoke {helper_id}"))
    assert "không có quyền" in texts(await helper.say("/orders"))
    assert "không có quyền" in texts(await helper.say("/invite admin"))
    assert "/invite VAI-TRÒ" in texts(await admin.say("/invite emperor"))


async def test_revoke_with_a_number_that_is_no_user_id_gets_its_usage(client: TestClient) -> None:
    admin = await ChatSession.open(client)
    await admin.say(f"/join {await invite(client, 'admin')}")
    usage = texts(await admin.say("/revoke"))
    for argument in ("²", "#١٢", "9" * 30, "-1"):  # a superscript, Arabic-Indic digits, beyond 64 bits
        assert texts(await admin.say(f"/revoke {argument}")) == usage


async def test_admins_are_notified_of_a_join_through_the_outbox(client: TestClient) -> None:
    admin, newcomer = await ChatSession.open(client), await ChatSession.open(client)
    await admin.say(f"/join {await invite(client, 'admin')}")
    await newcomer.say(f"/join {await invite(client, 'doctor')}")
    assistant = client.app[ASSISTANT]
    await deliver_pushes(assistant)
    pushed = await admin.pushed()
    assert len(pushed) == 1 and "bác sĩ" in pushed[0]["text"]


async def test_every_decision_keeps_the_audit_chain_valid(client: TestClient, database: Database) -> None:
    session = await ChatSession.open(client)
    for text in ("xin chào", "/approve X", "/help"):
        await session.say(text)
    log = AuditLog(database)
    result = await log.verify()
    assert result.ok and result.checked == 3
    entries = list(reversed(await log.entries()))
    assert [(e.action, e.subject, e.outcome) for e in entries] == [
        ("message.text", "web", "ok"), ("authorize", "/approve", "deny"), ("message.text", "web", "ok")]
