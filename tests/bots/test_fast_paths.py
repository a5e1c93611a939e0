"""The optional speed-ups: orjson under `parse_json` and `json_response` (the same values, bytes and
errors as the standard library's json), uvloop under `xaso serve` (XASO_UVLOOP switches it off)."""

from __future__ import annotations

import asyncio
import json
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from aiohttp import web

from bots import cli, http_server
from bots.server import ASSISTANT
from bots.web_input import BadInput, parse_json
from bots.web_json import error, json_response
from core.config import Settings


@pytest.mark.parametrize("body, parsed", [
    ('{"text": "Tôi muốn khai sinh", "id": 7}'.encode(), {"text": "Tôi muốn khai sinh", "id": 7}),
    (b'{"text": "\\u0110\\u0103ng k\\u00fd"}', {"text": "Đăng ký"}),
    # lone surrogates and NUL become U+FFFD, in keys too; a surrogate pair is one character
    (b'{"text": "a\\ud800b", "\\udfff": "\\u0000"}', {"text": "a\ufffdb", "\ufffd": "\ufffd"}),
    (b'"\xed\xa0\x80"', "\ufffd"), (b'"\\ud83d\\ude00"', "😀"),
    # whole numbers stay whole however long (orjson would make a float of these)
    (b'{"update_id": 18446744073709551616}', {"update_id": 18446744073709551616}),
    (b"[-9223372036854775809, 10000000000000000000000]", [-9223372036854775809, 10**22]),
    (b"[0.5, -0.0, 1e-400, 21.0285]", [0.5, -0.0, 0.0, 21.0285]),
    (b"[" * 64 + b"]" * 64, json.loads(b"[" * 64 + b"]" * 64)),
])
def test_parse_json_reads_as_before(json_mode: str, body: bytes, parsed: Any) -> None:
    result = parse_json(body)
    assert result == parsed and repr(result) == repr(parsed)


@pytest.mark.parametrize("body", [
    b"NaN", b"[Infinity]", b"1e400", b"[-1e400]", b"[1,]", b"", b"\xff", b"{'a': 1}",
    b"[" * 65 + b"]" * 65, b"[" * 2000 + b"]" * 2000, b"[" * 100000,
])
def test_parse_json_refuses_as_before(json_mode: str, body: bytes) -> None:
    with pytest.raises(BadInput):
        parse_json(body)


def test_json_response_is_what_aiohttp_made_before(json_mode: str) -> None:
    data = {"replies": [{"text": "Chào bạn 😀 «xã»\n\"trích\"", "buttons": [], "audio_url": None}],
            "n": [1, 2**63, 0.25, True]}
    before = web.json_response(data, status=429, dumps=lambda value: json.dumps(
        value, ensure_ascii=False, separators=(",", ":")))
    after = json_response(data, 429)
    assert after.status == before.status and dict(after.headers) == dict(before.headers)
    assert after.body == before.body
    assert after.content_type == "application/json" and after.charset == "utf-8"
    assert error(400, "bad_json", "Sai dạng").body == '{"error":"bad_json","message":"Sai dạng"}'.encode()


# ------------------------------------------------------------------------------------------ the loop
def test_the_loop_is_uvloop_unless_switched_off() -> None:
    uvloop = pytest.importorskip("uvloop")
    loop, kind = http_server.new_event_loop(True)
    try:
        assert isinstance(loop, uvloop.Loop) and kind == f"uvloop {uvloop.__version__}"
    finally:
        loop.close()
    loop, kind = http_server.new_event_loop(False)
    try:
        assert not isinstance(loop, uvloop.Loop) and kind == "asyncio (XASO_UVLOOP is off)"
    finally:
        loop.close()


def test_without_uvloop_the_loop_is_asyncio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # as if it were not installed
    loop, kind = http_server.new_event_loop(True)
    try:
        assert kind == "asyncio (uvloop is not installed)"
        assert isinstance(loop, asyncio.BaseEventLoop)  # uvloop's Loop is not one
    finally:
        loop.close()


@pytest.mark.parametrize("value, expected", [(None, True), ("0", False), ("false", False), ("1", True)])
def test_serve_honours_xaso_uvloop(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                   expected: bool) -> None:
    if value is None:
        monkeypatch.delenv("XASO_UVLOOP", raising=False)
    else:
        monkeypatch.setenv("XASO_UVLOOP", value)
    settings = Settings(_env_file=None)
    assert settings.uvloop is expected
    ran: dict[str, Any] = {}
    monkeypatch.setattr(cli, "serve_app", lambda args: {ASSISTANT: SimpleNamespace(settings=settings)})
    monkeypatch.setattr(http_server, "run", lambda app, **options: ran.update(options))
    assert cli.cmd_serve(cli.build_parser().parse_args(["serve", "--port", "8099"])) == 0
    assert ran == {"host": "127.0.0.1", "port": 8099, "shutdown_timeout": 15.0, "uvloop": expected}
