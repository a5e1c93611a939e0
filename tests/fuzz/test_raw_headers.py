"""Raw bytes in headers and cookies, on every route of `xaso serve` (hypothesis): any byte 0x00–0xFF, CR and
LF included, in the values of the headers our handlers read (credentials, signatures, content type,
cookies), and over-long values on both sides of aiohttp's 8,190-byte line limit, sent as given by a raw
HTTP/1.1 client, with or without valid credentials beside them.

For every request: no 5xx; on /api/ and webhook routes an error is a JSON object with an `error` (a
request aiohttp cannot parse as HTTP included: bots/http_server.py); nothing in the server's log.
Bounded: `XASO_FUZZ_EXAMPLES` examples per route (50 by default), no deadline, no shrinking.
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bots.openapi import OPERATIONS
from tests.fuzz.conftest import LiveServer
from tests.fuzz.test_openapi_fuzz import EXAMPLES, WEBHOOKS
from tests.support import hostile
from tests.support.raw_http import Header, raw_request

SAMPLE_PARAMETERS = {"code": "ABCD234567", "source": "onestop", "id": "1", "media_id": "abc", "token": "abc",
                     "name": "chat.js", "place": "tin_keo"}
HEADERS = ("Authorization", "Content-Type", "X-Telegram-Bot-Api-Secret-Token", "X-Bot-Api-Secret-Token",
           "X-ZEvent-Signature", "Stripe-Signature", "webhook-id", "webhook-timestamp", "webhook-signature",
           "Accept-Language", "Accept", "X-Forwarded-For", "If-Modified-Since", "Range", "X-Fuzz")
COOKIES = ("xaso_dash", "__Host-xaso_dash", "xaso_dash_login", "__Host-xaso_dash_login", "other")

any_bytes = st.binary(max_size=48)
over_long = st.builds(lambda unit, count: (unit * count)[:count], st.binary(min_size=1, max_size=3),
                      st.sampled_from([1000, 4000, 8150, 8190, 8191, 9000, 20_000]))
values = st.one_of(any_bytes, any_bytes.map(lambda raw: b"Bearer " + raw),
                   any_bytes.map(lambda raw: b"mac=" + raw), over_long)
header = st.tuples(st.sampled_from(HEADERS), values)
cookie = st.builds(lambda name, raw: ("Cookie", name.encode() + b"=" + raw), st.sampled_from(COOKIES), values)
hostile_headers = st.lists(st.one_of(header, cookie), min_size=1, max_size=3)


def target(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda found: SAMPLE_PARAMETERS[found.group(1)], path)


def valid_credentials(live: LiveServer, path: str) -> list[Header]:
    if path.startswith("/api/chat/"):
        return [("Authorization", f"Bearer {live.chat_token}")]
    if path.startswith(("/dashboard", "/api/stats")):
        return [("Cookie", f"xaso_dash={live.dashboard_cookie}")]
    if path == "/telegram/webhook":
        return [("X-Telegram-Bot-Api-Secret-Token", hostile.TELEGRAM_SECRET)]
    if path == "/zalo/bot/webhook":
        return [("X-Bot-Api-Secret-Token", hostile.ZALO_BOT_SECRET)]
    return []


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
def test_raw_bytes_in_headers_and_cookies(live_server: LiveServer, path: str, method: str) -> None:
    body = json.dumps({"text": "xin chào", "update_id": 1}).encode() if method == "POST" else b""

    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=(Phase.explicit, Phase.generate),
              suppress_health_check=list(HealthCheck))
    @given(headers=hostile_headers, with_credentials=st.booleans())
    def run(headers: list[Header], with_credentials: bool) -> None:
        sent = (valid_credentials(live_server, path) if with_credentials else []) + list(headers)
        if method == "POST" and not any(str(name).lower() == "content-type" for name, _ in sent):
            sent.append(("Content-Type", "application/json"))
        live_server.requests_sent += 1
        response = asyncio.run(raw_request(live_server.port, method, target(path), sent, body))
        where = f"{method} {path} → {response.status}\nheaders={[(n, v[:200]) for n, v in sent]!r}\n" \
                f"{response.body[:500]!r}"
        assert response.status < 500, where
        if response.status >= 400 and (path.startswith("/api/") or path in WEBHOOKS):
            assert response.is_json and isinstance(response.json().get("error"), str), where
        live_server.assert_log_clean(where)

    run()
