"""The staff dashboard over real HTTP: login by one-time link from chat, sessions and their expiry,
CSRF, roles, security headers, and /api/stats against known data."""

from __future__ import annotations

import datetime as dt

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from bots.dashboard import store
from bots.dashboard.store import DashboardSession, LoginLink
from bots.server import ASSISTANT
from core.config import Settings
from core.models import AuditEntry, User, utcnow
from tests.support.chat import ChatSession, texts
from tests.support.dashboard import (
    HIDDEN,
    dead_letter_pending,
    known_data,
    logged_in_staff,
    login_token,
    member,
    open_link,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


async def actions(client: TestClient, prefix: str) -> list[AuditEntry]:
    async with client.app[ASSISTANT].database.session() as session:
        return list(await session.scalars(select(AuditEntry).where(AuditEntry.action.like(f"{prefix}%"))
                                           .order_by(AuditEntry.seq)))


async def test_a_staff_member_logs_in_through_the_link_sent_to_their_chat(client: TestClient) -> None:
    _chat, csrf = await logged_in_staff(client)
    page = await client.get("/dashboard")
    body = await page.text()
    assert page.status == 200 and "Hồ sơ một cửa" in body and "Tin nhắn hôm nay" in body
    assert csrf and f'value="{csrf}"' in body
    english = await client.get("/dashboard?lang=en")
    assert "One-stop dossiers" in await english.text()
    assert "Open dossiers" in await (await client.get("/dashboard/map")).text()  # the choice sticks
    logins = [entry for entry in await actions(client, "dashboard.login") if entry.outcome == "ok"]
    assert len(logins) == 1 and logins[0].actor.startswith("user:")
    views = [entry.subject for entry in await actions(client, "dashboard.view")]
    assert views[:2] == ["overview", "overview"]


async def test_cookie_and_headers_are_strict(client: TestClient) -> None:
    chat = await member(client)
    token = await login_token(client, chat)
    form = await client.get(f"/dashboard/login?token={token}")
    csrf = HIDDEN.search(await form.text())
    assert csrf is not None
    response = await client.post("/dashboard/login", data={"token": token, "csrf": csrf.group(1)},
                                 allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/dashboard"
    cookie = response.cookies["xaso_dash"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert not cookie["secure"]  # XASO_PUBLIC_URL is http in the tests
    page = await client.get("/dashboard")
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    body = await page.text()
    assert "<script>" not in body and "style=" not in body and "http://" not in body.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


async def test_the_cookie_is_secure_behind_https(client: TestClient, settings: Settings) -> None:
    from bots.dashboard.registry import default_registry
    from bots.dashboard.web import Dashboard

    assistant = client.app[ASSISTANT]
    secure = Dashboard(assistant, default_registry(assistant.assembly))
    assert not secure.secure
    assistant.settings = settings.model_copy(update={"public_url": "https://xa.example.vn"})
    try:
        dashboard = Dashboard(assistant, default_registry(assistant.assembly))
        assert dashboard.secure and dashboard.cookie == "__Host-xaso_dash"
        assert "Strict-Transport-Security" in dashboard._headers()
    finally:
        assistant.settings = settings


async def test_without_a_session_everything_is_refused(client: TestClient) -> None:
    for path in ("/dashboard", "/dashboard/map", "/dashboard/deadletters", "/dashboard/audit"):
        response = await client.get(path)
        assert response.status == 401, path
        assert "/dashboard" in await response.text()
    stats = await client.get("/api/stats")
    assert stats.status == 401 and (await stats.json()) == {"error": "unauthorized"}
    assert (await client.post("/dashboard/deadletters/1/replay", data={"csrf": "x"})).status == 401
    client.session.cookie_jar.update_cookies({"xaso_dash": "forged-session-id"})
    assert (await client.get("/dashboard")).status == 401


async def test_a_citizen_gets_no_link_and_no_access(client: TestClient) -> None:
    citizen = await ChatSession.open(client)
    refused = texts(await citizen.say("/dashboard"))
    assert "không có quyền" in refused.lower() or "không được phép" in refused.lower(), refused
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        user_id = await session.scalar(select(User.id).where(User.external_id == citizen.user_id))
        assert user_id is not None
        # A link made for a citizen by other means still opens nothing ...
        token = await store.create_link(session, assistant.services.hasher, user_id, store.Lifetimes())
    await open_link(client, token, expect=403)
    # ... and neither does a session: the role is checked on every request.
    async with assistant.database.session() as session:
        session_id = await store.open_session(session, assistant.services.hasher, user_id, store.Lifetimes())
    client.session.cookie_jar.update_cookies({"xaso_dash": session_id})
    assert (await client.get("/dashboard")).status == 403
    assert (await client.get("/api/stats")).status == 403
    denied = await actions(client, "dashboard.denied")
    assert [entry.outcome for entry in denied] == ["denied", "denied"]


async def test_a_doctor_or_seller_is_refused_and_a_revoked_role_ends_access(client: TestClient) -> None:
    doctor = await member(client, "doctor")
    assert "đường dẫn" not in texts(await doctor.say("/dashboard")).lower()
    official, _csrf = await logged_in_staff(client)
    assert (await client.get("/dashboard")).status == 200
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        from core.models import UserRole
        user_id = await session.scalar(select(User.id).where(User.external_id == official.user_id))
        await session.execute(UserRole.__table__.delete().where(UserRole.user_id == user_id))
    assert (await client.get("/dashboard")).status == 403


async def test_an_admin_may_open_it(client: TestClient) -> None:
    await logged_in_staff(client, "admin")
    assert (await client.get("/dashboard/audit")).status == 200


async def test_a_link_works_once(client: TestClient) -> None:
    chat = await member(client)
    token = await login_token(client, chat)
    await open_link(client, token)
    client.session.cookie_jar.clear()
    await open_link(client, token, expect=403)
    assert (await client.get("/dashboard")).status == 401
    reasons = [entry.detail["reason"] for entry in await actions(client, "dashboard.login")]
    assert reasons == ["ok", "used"]
    # A token never issued, and a login page without a token.
    await open_link(client, "x" * 43, expect=403)
    assert (await client.get("/dashboard/login")).status == 403


async def test_an_expired_link_is_refused(client: TestClient) -> None:
    chat = await member(client)
    token = await login_token(client, chat)
    async with client.app[ASSISTANT].database.session() as session:
        await session.execute(update(LoginLink).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    await open_link(client, token, expect=403)
    assert [entry.detail["reason"] for entry in await actions(client, "dashboard.login")] == ["expired"]


async def test_login_without_the_pages_own_token_is_refused(client: TestClient) -> None:
    chat = await member(client)
    token = await login_token(client, chat)
    # A cross-site form cannot read the login page: without its cookie and token the POST fails.
    response = await client.post("/dashboard/login", data={"token": token, "csrf": "forged"},
                                 allow_redirects=False)
    assert response.status == 403
    await open_link(client, token)  # the link was not spent by the refused attempt


async def test_csrf_is_required_on_every_post(client: TestClient) -> None:
    _chat, csrf = await logged_in_staff(client)
    for data in ({}, {"csrf": "wrong"}, {"csrf": csrf[:-1] + ("0" if csrf[-1] != "0" else "1")}):
        assert (await client.post("/dashboard/logout", data=data)).status == 403
        assert (await client.post("/dashboard/deadletters/1/replay", data=data)).status == 403
    assert (await client.get("/dashboard")).status == 200  # still logged in
    assert len([e for e in await actions(client, "dashboard.") if e.outcome == "csrf"]) == 6
    done = await client.post("/dashboard/logout", data={"csrf": csrf})
    assert done.status == 200
    assert (await client.get("/dashboard")).status == 401


async def test_sessions_end_when_idle_or_too_old(client: TestClient) -> None:
    await logged_in_staff(client)
    database = client.app[ASSISTANT].database
    async with database.session() as session:
        await session.execute(update(DashboardSession).values(
            last_seen_at=utcnow() - dt.timedelta(minutes=29)))
    assert (await client.get("/dashboard")).status == 200  # 29 minutes idle: still alive, and reset
    async with database.session() as session:
        await session.execute(update(DashboardSession).values(
            last_seen_at=utcnow() - dt.timedelta(minutes=31)))
    assert (await client.get("/dashboard")).status == 401
    async with database.session() as session:
        row = await session.scalar(select(DashboardSession))
        assert row is not None and row.ended_at is not None

    client.session.cookie_jar.clear()
    await logged_in_staff(client)
    async with database.session() as session:
        await session.execute(update(DashboardSession).where(DashboardSession.ended_at.is_(None))
                              .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert (await client.get("/dashboard")).status == 401  # active, but past its absolute lifetime


async def test_api_stats_serves_the_figures_of_known_data(client: TestClient) -> None:
    await known_data(client)
    await dead_letter_pending(client)
    await logged_in_staff(client)
    response = await client.get("/api/stats")
    assert response.status == 200 and response.content_type == "application/json"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    stats = await response.json()
    sections = stats["sections"]
    assert list(sections) == ["messages", "dossiers", "consults", "payments", "reports", "orders",
                              "announcements", "appointments", "skills", "tourism", "outbox", "audit"]
    dossiers = sections["dossiers"]
    assert dossiers["figures"] == {"new_today": 6, "open": 4, "overdue": 2, "received": 1, "processing": 2,
                                   "needs_info": 1, "approved": 1, "rejected": 0, "delivered": 1}
    assert dossiers["alerts"] == ["overdue"] and dossiers["chart"]["overdue"] == 2
    # What to act on: the open ones, due first
    assert dossiers["items"] == ["LB-2020-000002", "LB-2020-000003", "LB-2020-000006", "LB-2020-000001"]
    consults = sections["consults"]["figures"]
    assert consults["waiting"] == 2 and consults["answered_today"] == 2 and consults["answered"] == 2
    assert 19.9 <= consults["longest_wait_min"] <= 21 and consults["average_wait_min"] == 8.0
    assert sections["consults"]["alerts"] == ["waiting", "longest_wait_min"]  # 20 min > 15 min escalation
    payments = sections["payments"]
    assert payments["figures"] == {"paid_today": 2, "received_today_vnd": 170_000, "pending": 1,
                                   "pending_vnd": 30_000, "cancelled_today": 1}
    assert payments["chart"] == {"cash": 50_000, "stripe": 120_000}
    assert sections["outbox"]["figures"]["dead"] == 1 and sections["outbox"]["alerts"] == ["dead"]
    messages = sections["messages"]["figures"]
    # The staff member's /join and /dashboard, from the audit log
    assert messages["today"] == 2 and messages["active_users"] == 1 and messages["active_web"] == 1
    assert sections["messages"]["chart"] == {"web": 2}
    audit = sections["audit"]
    assert audit["figures"]["chain_ok"] is True and audit["figures"]["entries"] > 0 and audit["alerts"] == []
    assert stats["map"]["hamlets"] and stats["map"]["layers"]["dossiers"] == {"by_hamlet": {}, "unplaced": 4}


async def test_overview_highlights_what_needs_attention(client: TestClient) -> None:
    await known_data(client)
    await dead_letter_pending(client)
    await logged_in_staff(client)
    body = await (await client.get("/dashboard")).text()
    assert 'class="figure alert" data-key="dossiers.overdue"' in body
    assert 'class="figure alert" data-key="outbox.dead"' in body
    assert '<li class=alert><strong>LB-2020-000002</strong> đang giải quyết · ' in body
    assert '<li><strong>LB-2020-000001</strong> mới nhận · ' in body
    assert "<svg" in body and "170.000 đ" in body
    assert 'class="figure" data-key="audit.chain_ok"' in body and "Nguyên vẹn" in body


async def test_replay_a_dead_letter(client: TestClient) -> None:
    await known_data(client)
    await dead_letter_pending(client)
    _chat, csrf = await logged_in_staff(client)
    page = await (await client.get("/dashboard/deadletters")).text()
    assert 'id="dead-1"' in page and "Forbidden" in page and ">x<" not in page  # no message content
    response = await client.post("/dashboard/deadletters/1/replay", data={"csrf": csrf},
                                 allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/dashboard/deadletters?replayed=1"
    page = await (await client.get("/dashboard/deadletters?replayed=1")).text()
    assert 'id="dead-1"' not in page and 'id="replayed"' in page
    assert (await client.app[ASSISTANT].services.outbox.stats())["pending"] == 1
    again = await client.post("/dashboard/deadletters/1/replay", data={"csrf": csrf})
    assert again.status == 404
    assert [e.outcome for e in await actions(client, "outbox.replay")] == ["ok", "not_dead"]


async def test_audit_page_filters_and_shows_a_broken_chain(client: TestClient) -> None:
    _chat, _csrf = await logged_in_staff(client)
    page = await (await client.get("/dashboard/audit?action=dashboard.login")).text()
    assert 'class="notice ok" id="chain"' in page and page.count("<tr>") == 2  # header + the one login
    async with client.app[ASSISTANT].database.session() as session:
        await session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(outcome="forged"))
    page = await (await client.get("/dashboard/audit")).text()
    assert 'class="notice alert" id="chain"' in page and "2" in page
    stats = await (await client.get("/api/stats")).json()
    assert stats["sections"]["audit"]["figures"]["chain_ok"] is False
    assert stats["sections"]["audit"]["figures"]["first_bad_seq"] == 2
