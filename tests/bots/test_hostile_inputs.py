"""Hostile input, case by case (SECURITY.md: no input of any shape produces a 5xx). Each case was an HTTP
500 with a traceback in the log; each is now a 4xx with a JSON error (or the page's own error page), no
traceback, and, for a webhook, one more `xaso_webhook_rejections_total`.

The app runs with every channel and webhook on, served on 127.0.0.1 the way `xaso serve` serves it, and
is reached with a raw HTTP/1.1 client (tests/support/raw_http.py), which sends header bytes as given.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError

from backends.health.appointments import parse_code
from backends.payments.stripe import intent_of_link
from bots.assistant import Assistant
from bots.server import ASSISTANT, create_app
from bots.zalo.models import ZaloEvent
from core.config import Settings
from core.crypto import Hasher
from core.db import Database
from nlu.engine import NLUEngine
from tests.support.fake_telegram import LoopbackRequest
from tests.support.hostile import (
    TELEGRAM_SECRET,
    ZALO_BOT_SECRET,
    all_channels,
    dumps,
    rejections,
    tracebacks,
    zalo_bot_update,
    zalo_oa_headers,
    zalo_text_event,
)
from tests.support.raw_http import Header, RawResponse, raw_request
from tests.support.served import served

DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"text": ' + DEEP + b"}"


@dataclass
class Served:
    app: web.Application
    port: int

    async def request(self, method: str, target: str, headers: list[Header] = (),  # type: ignore[assignment]
                      body: bytes = b"") -> RawResponse:
        return await raw_request(self.port, method, target, list(headers), body)

    async def metrics(self) -> str:
        return (await self.request("GET", "/metrics")).body.decode()

    async def token(self) -> str:
        response = await self.request("POST", "/api/chat/sessions", [("Content-Type", "application/json")],
                                      b'{"language": "vi"}')
        assert response.status == 200, response.body
        return str(response.json()["token"])


@pytest.fixture
async def hostile(settings: Settings, database: Database, nlu_engine: NLUEngine) -> AsyncIterator[Served]:
    app = create_app(Assistant.build(all_channels(settings), nlu=nlu_engine, database=database),
                     telegram_request=LoopbackRequest)
    async with served(app) as port:
        yield Served(app, port)


def assert_json_error(response: RawResponse, status: int) -> dict[str, Any]:
    assert response.status == status, (response.status, response.body[:200])
    assert response.is_json, response.body[:200]
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    return body


# Webhooks: refused, counted, no traceback


async def test_a_telegram_secret_with_byte_ff_is_401_and_counted(hostile: Served,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    before = rejections(await hostile.metrics(), "telegram", "secret")
    for secret in (b"\xff", TELEGRAM_SECRET.encode() + b"\xff", b"\xc3\x28" + b"a" * 300):
        response = await hostile.request("POST", "/telegram/webhook", [
            ("X-Telegram-Bot-Api-Secret-Token", secret), ("Content-Type", "application/json")],
            b'{"update_id": 1}')
        assert assert_json_error(response, 401) == {"error": "unauthorized"}  # no detail
    assert rejections(await hostile.metrics(), "telegram", "secret") == before + 3
    assert tracebacks(caplog) == []


async def test_a_zalo_timestamp_with_a_lone_surrogate_is_400_before_the_signature(
        hostile: Served, caplog: pytest.LogCaptureFixture) -> None:
    before = rejections(await hostile.metrics(), "zalo", "malformed")
    for timestamp in ("\ud800", "12\udcff34", "１２３", "-5", ""):
        body = dumps({"event_name": "user_send_text", "timestamp": timestamp})
        response = await hostile.request("POST", "/zalo/webhook", [
            ("X-ZEvent-Signature", "mac=" + "0" * 64), ("Content-Type", "application/json")], body)
        assert assert_json_error(response, 400) == {"error": "malformed"}
    assert rejections(await hostile.metrics(), "zalo", "malformed") == before + 5
    assert tracebacks(caplog) == []


async def test_deep_json_on_the_webhooks_is_400_and_counted(hostile: Served,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    metrics = await hostile.metrics()
    before = {source: rejections(metrics, source, "malformed") for source in ("telegram", "zalo", "zalobot")}
    for path, headers in (("/telegram/webhook", [("X-Telegram-Bot-Api-Secret-Token", TELEGRAM_SECRET)]),
                          ("/zalo/webhook", [("X-ZEvent-Signature", "mac=" + "0" * 64)]),
                          ("/zalo/bot/webhook", [("X-Bot-Api-Secret-Token", ZALO_BOT_SECRET)])):
        response = await hostile.request("POST", path, [*headers, ("Content-Type", "application/json")], DEEP)
        assert_json_error(response, 400)
    metrics = await hostile.metrics()
    assert {source: rejections(metrics, source, "malformed") - count for source, count in before.items()} == {
        "telegram": 1, "zalo": 1, "zalobot": 1}
    assert tracebacks(caplog) == []


async def _stored(database: Database, scope: str) -> list[ZaloEvent]:
    async with database.session() as session:
        return list((await session.execute(select(ZaloEvent).where(
            ZaloEvent.source == scope))).scalars())


async def _until_done(database: Database, scope: str, count: int) -> list[ZaloEvent]:
    for _ in range(300):
        rows = await _stored(database, scope)
        if len(rows) >= count and all(row.status == "done" for row in rows):
            return rows
        await asyncio.sleep(0.05)
    return await _stored(database, scope)


async def test_signed_zalo_events_with_lone_surrogates_are_handled_with_them_replaced(
        hostile: Served, database: Database, caplog: pytest.LogCaptureFixture) -> None:
    """Before: stored nowhere (the database refused the text) and retried from memory for ever, or
    stored and failing at every try. Now: stored with U+FFFD, handled, done."""
    oa_event = zalo_text_event("xin chào \ud800", "msg-\udcff-1")
    body = dumps(oa_event)
    response = await hostile.request("POST", "/zalo/webhook", list(zalo_oa_headers(
        body, oa_event["timestamp"]).items()), body)
    assert response.status == 200, response.body
    update = zalo_bot_update("\udc00 xin chào", "\ud800m", chat_id="bot-\ud800")
    response = await hostile.request("POST", "/zalo/bot/webhook", [
        ("X-Bot-Api-Secret-Token", ZALO_BOT_SECRET), ("Content-Type", "application/json")], dumps(update))
    assert response.status == 200, response.body
    oa_rows = await _until_done(database, "zalo", 1)
    bot_rows = await _until_done(database, "zalobot", 1)
    assert [row.status for row in oa_rows + bot_rows] == ["done", "done"]
    assert oa_rows[0].event_key == "m:msg-\ufffd-1"
    assert oa_rows[0].payload["message"]["text"] == "xin chào \ufffd"
    assert bot_rows[0].payload["message"]["text"] == "\ufffd xin chào"
    assert tracebacks(caplog) == []


async def test_signed_zalo_events_with_nul_or_non_finite_numbers(hostile: Served, database: Database,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """NUL is refused by PostgreSQL (text and JSONB): replaced. `1e400` parses as infinity, which no
    JSON column stores: refused as malformed."""
    event = zalo_text_event("a\x00b", "msg-nul")
    body = dumps(event)
    response = await hostile.request("POST", "/zalo/webhook", list(zalo_oa_headers(
        body, event["timestamp"]).items()), body)
    assert response.status == 200
    rows = await _until_done(database, "zalo", 1)
    assert rows[0].payload["message"]["text"] == "a\ufffdb" and rows[0].status == "done"
    stamp = str(int(time.time() * 1000))
    body = b'{"event_name": "user_send_text", "timestamp": "%s", "x": 1e400}' % stamp.encode()
    headers = list(zalo_oa_headers(body, stamp).items())
    response = await hostile.request("POST", "/zalo/webhook", headers, body)
    assert assert_json_error(response, 400) == {"error": "malformed"}
    assert tracebacks(caplog) == []


# The web chat API


async def test_a_bearer_token_with_byte_ff_is_401(hostile: Served, caplog: pytest.LogCaptureFixture) -> None:
    for authorization in (b"Bearer \xff", b"Bearer \xc3\x28", b"bearer abc\xffdef", b"Bearer " + b"a" * 5000):
        response = await hostile.request("POST", "/api/chat/messages", [
            ("Authorization", authorization), ("Content-Type", "application/json")], b'{"text": "hi"}')
        assert assert_json_error(response, 401)["error"] == "unauthorized"
        response = await hostile.request("GET", "/api/chat/messages", [("Authorization", authorization)])
        assert assert_json_error(response, 401)["error"] == "unauthorized"
    assert tracebacks(caplog) == []


async def test_json_nested_100000_deep_is_400(hostile: Served, caplog: pytest.LogCaptureFixture) -> None:
    json_type = ("Content-Type", "application/json")
    response = await hostile.request("POST", "/api/chat/sessions", [json_type], DEEP)
    assert assert_json_error(response, 400)["error"] == "bad_json"
    token = await hostile.token()
    for body in (DEEP, DEEP_OBJECT, b'{"text": ' + b"[" * 70 + b"]" * 70 + b"}"):
        response = await hostile.request("POST", "/api/chat/messages", [
            ("Authorization", f"Bearer {token}"), json_type], body)
        assert assert_json_error(response, 400)["error"] == "bad_json"
    assert tracebacks(caplog) == []


async def test_after_beyond_64_bits_or_not_ascii_digits_is_400(hostile: Served,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    token = await hostile.token()
    auth = ("Authorization", f"Bearer {token}")
    for after in ("9" * 30, str(2**63), "%C2%B2", "%D9%A1", "-1", "1e3"):
        response = await hostile.request("GET", f"/api/chat/messages?after={after}", [auth])
        assert assert_json_error(response, 400)["error"] == "bad_request", after
    response = await hostile.request("GET", f"/api/chat/messages?after={2**63 - 1}", [auth])
    assert response.status == 200 and response.json() == {"messages": []}
    assert tracebacks(caplog) == []


async def test_text_with_lone_surrogates_or_nul_is_answered(hostile: Served,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    token = await hostile.token()
    for text in ("xin chào \ud800", "\udcff", "a\x00b"):
        headers: list[Header] = [("Authorization", f"Bearer {token}"), ("Content-Type", "application/json")]
        response = await hostile.request("POST", "/api/chat/messages", headers, dumps({"text": text}))
        assert response.status == 200, response.body
        assert response.json()["replies"]
    assert tracebacks(caplog) == []


# The dashboard, static files


DASHBOARD = ("/dashboard", "/dashboard/map", "/dashboard/deadletters", "/dashboard/audit")


async def test_a_dashboard_cookie_with_byte_ff_is_the_login_page_401(hostile: Served,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    for cookie in (b"xaso_dash=\xff", b"xaso_dash=abc\xc3\x28", b'xaso_dash="\xff"'):
        for path in DASHBOARD:
            response = await hostile.request("GET", path, [("Cookie", cookie)])
            assert response.status == 401 and response.content_type == "text/html", (path, response.status)
        response = await hostile.request("GET", "/api/stats", [("Cookie", cookie)])
        assert assert_json_error(response, 401) == {"error": "unauthorized"}
        for path in ("/dashboard/logout", "/dashboard/deadletters/1/replay"):
            response = await hostile.request("POST", path, [("Cookie", cookie)], b"csrf=x")
            assert response.status == 401, (path, response.status)
    assert tracebacks(caplog) == []


async def test_dashboard_login_with_a_bad_multipart_boundary_or_cookie(
        hostile: Served, caplog: pytest.LogCaptureFixture) -> None:
    for content_type, body in (("multipart/form-data; boundary=zzz", b"--abc\r\nfoo\r\n"),
                               ("multipart/form-data", b"--abc\r\n"),
                               ("application/x-www-form-urlencoded; charset=no-such-charset", b"token=a"),
                               ("application/x-www-form-urlencoded", b"token=\xff\xfe&csrf=\xc3\x28")):
        response = await hostile.request("POST", "/dashboard/login", [("Content-Type", content_type)], body)
        assert response.status == 400 and response.content_type == "text/html", (content_type, response.body)
    for cookie in (b"xaso_dash_login=\xff", b"xaso_dash_login=a\xc3\x28"):
        response = await hostile.request("POST", "/dashboard/login", [
            ("Cookie", cookie), ("Content-Type", "application/x-www-form-urlencoded")], b"csrf=a&token=b")
        assert response.status == 403 and response.content_type == "text/html"  # the page's CSRF refusal
        response = await hostile.request("GET", "/dashboard/login?token=abc", [("Cookie", cookie)])
        assert response.status == 200
    response = await hostile.request("POST", "/dashboard/login", [
        ("Cookie", "xaso_dash_login=abc"), ("Content-Type", "application/x-www-form-urlencoded")],
        "csrf=é&token=b".encode())
    assert response.status == 403  # a CSRF token that is not ASCII: refused, not an error
    assert tracebacks(caplog) == []


async def test_a_300_character_static_name_is_404(hostile: Served, caplog: pytest.LogCaptureFixture) -> None:
    for name in ("a" * 300, "%00", "..%2F..%2Fetc%2Fpasswd", "leaflet/" + "b" * 5000, "chat.js%00"):
        response = await hostile.request("GET", f"/static/{name}")
        assert assert_json_error(response, 404)["error"] == "not_found", name
    assert (await hostile.request("GET", "/static/chat.js")).status == 200
    assert (await hostile.request("GET", "/static/leaflet/leaflet.css")).status == 200
    assert tracebacks(caplog) == []


# Below the app: requests that are not HTTP


async def test_requests_that_are_not_http_get_a_json_400_and_no_traceback(
        hostile: Served, caplog: pytest.LogCaptureFixture) -> None:
    for headers in ([("X-Test", b"a\x00b")], [("Cookie", b"xaso_dash=\x01")], [("X-Test", b"a" * 9000)],
                    [(b"X-\xff", b"v")], [("X-A", "v")] * 200):
        response = await hostile.request("GET", "/api/chat/messages", headers)
        assert assert_json_error(response, 400)["error"] == "bad_request"
        assert b"\x00" not in response.body and b"aaaa" not in response.body  # nothing echoed back
    assert tracebacks(caplog) == []


async def test_method_not_allowed_is_json(hostile: Served) -> None:
    response = await hostile.request("DELETE", "/api/chat/messages")
    assert assert_json_error(response, 405)["error"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]


async def test_unexpected_errors_are_still_a_json_500_with_their_traceback(
        hostile: Served, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """The middleware does not hide bugs: only undecodable input is a 400."""
    outbox = hostile.app[ASSISTANT].services.outbox

    async def broken() -> dict[str, int]:
        raise RuntimeError("a bug")

    monkeypatch.setattr(outbox, "stats", broken)
    response = await hostile.request("GET", "/metrics")
    assert assert_json_error(response, 500)["error"] == "internal"
    assert any(record.exc_info for record in caplog.records)


async def test_an_unreachable_database_is_a_503_to_retry_without_a_traceback(
        hostile: Served, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PostgreSQL restart: nothing was committed, the client is told to send it again shortly."""
    outbox = hostile.app[ASSISTANT].services.outbox

    async def unreachable() -> dict[str, int]:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(outbox, "stats", unreachable)
    response = await hostile.request("GET", "/metrics")
    assert assert_json_error(response, 503)["error"] == "unavailable"
    assert response.headers["retry-after"] == "5"
    assert tracebacks(caplog) == []


class _CannotConnectNow(Exception):
    sqlstate = "57P03"  # asyncpg's CannotConnectNowError while PostgreSQL starts up


async def test_postgresql_starting_up_is_a_503_and_other_database_errors_still_a_500(
        hostile: Served, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    outbox = hostile.app[ASSISTANT].services.outbox
    starting = _CannotConnectNow("the database system is starting up")
    raised: list[Exception] = [DBAPIError("SELECT 1", {}, starting),
                               OperationalError("SELECT 1", {}, Exception("no such table: outbox"))]

    async def failing() -> dict[str, int]:
        raise raised.pop(0)

    monkeypatch.setattr(outbox, "stats", failing)
    assert assert_json_error(await hostile.request("GET", "/metrics"), 503)["error"] == "unavailable"
    assert tracebacks(caplog) == []
    assert assert_json_error(await hostile.request("GET", "/metrics"), 500)["error"] == "internal"  # a bug
    assert any(record.exc_info for record in caplog.records)


async def test_nul_and_undecodable_bytes_in_paths_and_queries(hostile: Served,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """PostgreSQL refuses NUL in text: nothing from a path or a query reaches it unchecked."""
    for target in ("/verify/%00", "/verify/%00.json", "/verify/%FF%FE", "/pay/%00", "/shop/photos/%00",
                   "/loudspeaker/feed?hamlet=%00", "/static/%00", "/dashboard/login?token=%00",
                   "/dashboard/login?token=%ED%A0%80", "/api/chat/messages?after=%00"):
        response = await hostile.request("GET", target)
        assert response.status < 500, (target, response.status, response.body[:200])
    response = await hostile.request("POST", "/hooks/%00", [("Content-Type", "application/json")], b"{}")
    assert assert_json_error(response, 404) == {"error": "not_found"}
    assert tracebacks(caplog) == []


def test_digits_that_are_not_ascii_are_not_numbers() -> None:
    """`"²".isdigit()` is true and `int("²")` an error: a payment link and an appointment code with one
    are simply not valid."""
    assert intent_of_link(Hasher(b"k" * 32), "pi_abc.²³.0123456789abcdef") is None
    assert parse_code("LH-²") is None and parse_code("LH-000012") == 12


async def test_a_signed_zalo_file_with_a_superscript_size_is_handled(hostile: Served, database: Database,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    event = {**zalo_text_event("", "msg-file"), "event_name": "user_send_file", "message": {
        "msg_id": "msg-file", "attachments": [{"type": "file", "payload": {
            "url": "https://example.org/a.pdf", "name": "a.pdf", "size": "²", "type": "pdf"}}]}}
    body = dumps(event)
    response = await hostile.request("POST", "/zalo/webhook", list(zalo_oa_headers(
        body, event["timestamp"]).items()), body)
    assert response.status == 200
    assert [row.status for row in await _until_done(database, "zalo", 1)] == ["done"]
    assert tracebacks(caplog) == []
