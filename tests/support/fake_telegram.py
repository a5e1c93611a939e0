"""A fake Telegram Bot API on loopback, faithful where our code depends on it.

Requests arrive as python-telegram-bot sends them: form-encoded, or multipart when a file is uploaded,
with nested objects (`reply_markup`, `allowed_updates`) as JSON strings. Answers are `{"ok": true,
"result": …}` or `{"ok": false, "error_code": …, "description": …, "parameters": {…}}`. Every call is
recorded; failures (429 with retry_after, 403 blocked, 5xx) can be queued per method, and a global send
limit can be enforced as Telegram does (a call refused keeps its `status`). Several clients may use one
fake under names of their own (`api_base_for`), told apart in `Call.via`. `send_delay` answers each send
that much later, as a distant server does: the message is recorded (delivered to the user) on arrival, so
a client that dies meanwhile never learns it was delivered, which is the window the fault benchmark
(bench/faults.py) aims at.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram.request import HTTPXRequest
from telegram.request._requestdata import RequestData

from tests.support.loopback import serve_on_loopback

TOKEN = "123456:TEST-token_for-xaso"
BOT_ID = 777000
BOT_USERNAME = "xaso_test_bot"
SEND_METHODS = frozenset({"sendMessage", "sendVoice", "sendPhoto", "sendDocument"})
JSON_FIELDS = frozenset({"reply_markup", "allowed_updates", "entities", "caption_entities"})


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = 0.0
    via: str = ""  # the client's name when it used `api_base_for(name)`
    status: int = 200  # the HTTP status it was answered (429: over the global limit)

    @property
    def chat_id(self) -> int:
        return int(self.params["chat_id"])


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None = None
    after: int = 0  # calls of the method that still succeed before this failure


class LoopbackRequest(HTTPXRequest):
    """python-telegram-bot's HTTP client, refusing any address but loopback (and ignoring proxies)."""

    def __init__(self) -> None:
        super().__init__(connection_pool_size=64, httpx_kwargs={"trust_env": False})

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        host = urlsplit(url).hostname
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise RuntimeError(f"test tried to reach {host}: only the fake Bot API is allowed")
        return await super().do_request(url, method, request_data, *args, **kwargs)


class FakeTelegram:
    def __init__(self, token: str = TOKEN, username: str = BOT_USERNAME,
                 global_limit: float | None = None, send_delay: float = 0.0) -> None:
        self.token = token
        self.username = username
        self.global_limit = global_limit
        self.send_delay = send_delay
        self.calls: list[Call] = []
        self.rejected_429 = 0
        self.webhook: dict[str, Any] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self._updates: list[dict[str, Any]] = []
        self._updates_added = asyncio.Event()
        self._failures: dict[str, deque[_Failure]] = {}
        self._message_ids = itertools.count(1000)
        self._recent_sends: deque[float] = deque()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # Lifecycle and addresses

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._file)
        app.router.add_route("*", "/{via}/bot{token}/{method}", self._api)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def api_base_for(self, name: str) -> str:
        """The API under a client's name (letters, digits, `-`): its calls carry it in `via`."""
        return f"http://127.0.0.1:{self.port}/{name}/bot"

    # Test controls

    def fail(self, method: str, status: int, description: str, *, retry_after: int | None = None,
             times: int = 1, after: int = 0) -> None:
        """The next `times` calls of `method` fail, once `after` more calls have succeeded."""
        queue = self._failures.setdefault(method, deque())
        for number in range(times):
            queue.append(_Failure(status, description, retry_after, after if number == 0 else 0))

    def block(self, method: str = "sendMessage") -> None:
        self.fail(method, 403, "Forbidden: bot was blocked by the user")

    def add_update(self, update: dict[str, Any]) -> None:
        self._updates.append(update)
        self._updates_added.set()

    def add_file(self, file_id: str, data: bytes, path: str = "photos/file_1.jpg") -> None:
        self.files[file_id] = (path, data)

    def sent(self, *methods: str) -> list[Call]:
        wanted = set(methods) or SEND_METHODS
        return [call for call in self.calls if call.method in wanted]

    async def wait_for(self, count: int, *methods: str, timeout: float = 10.0) -> list[Call]:  # noqa: ASYNC109
        """Waits until at least `count` calls of `methods` (default: the send methods) were recorded."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.sent(*methods)) >= count)
        return self.sent(*methods)

    # The API

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params, files = await _parse_body(request)
        call = Call(method, params, files, time.monotonic(), request.match_info.get("via", ""))
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()
        response = await self._answer(call)
        call.status = response.status
        return response

    async def _answer(self, call: Call) -> web.Response:
        method = call.method
        queued = self._failures.get(method)
        if queued and queued[0].after > 0:
            queued[0].after -= 1
        elif queued:
            failure = queued.popleft()
            return _error(failure.status, failure.description, failure.retry_after)
        if method in SEND_METHODS and self._over_global_limit(call.at):
            self.rejected_429 += 1
            return _error(429, "Too Many Requests: retry after 1", 1)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        result = await handler(call.params, call.files)
        if self.send_delay and method in SEND_METHODS:
            await asyncio.sleep(self.send_delay)
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    def _over_global_limit(self, now: float) -> bool:
        if self.global_limit is None:
            return False
        while self._recent_sends and self._recent_sends[0] <= now - 1.0:
            self._recent_sends.popleft()
        if len(self._recent_sends) >= self.global_limit:
            return True
        self._recent_sends.append(now)
        return False

    async def _m_getMe(self, params: dict[str, Any], files: dict[str, bytes]) -> dict[str, Any]:
        return self._bot_user() | {"can_join_groups": True, "can_read_all_group_messages": False,
                                   "supports_inline_queries": False}

    def _bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Xã Số", "username": self.username}

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        return {"message_id": next(self._message_ids), "date": int(time.time()), "from": self._bot_user(),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "group"}}

    async def _m_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        text = params.get("text", "")
        if not text:
            return _error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return _error(400, "Bad Request: message is too long")
        return self._message(params) | {"text": text}

    async def _m_sendVoice(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if "voice" not in files and "voice" not in params:
            return _error(400, "Bad Request: there is no voice in the request")
        voice = {"file_id": "v1", "file_unique_id": "uv1", "duration": 1, "mime_type": "audio/ogg"}
        return self._message(params) | {"voice": voice}

    async def _m_sendPhoto(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if "photo" not in files and "photo" not in params:
            return _error(400, "Bad Request: there is no photo in the request")
        return self._message(params) | {"photo": [{"file_id": "p1", "file_unique_id": "up1", "width": 1,
                                                    "height": 1}]}

    async def _m_sendDocument(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if "document" not in files and "document" not in params:
            return _error(400, "Bad Request: there is no document in the request")
        return self._message(params) | {"document": {"file_id": "d1", "file_unique_id": "ud1"}}

    async def _m_answerCallbackQuery(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        return True

    async def _m_getFile(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        found = self.files.get(params.get("file_id", ""))
        if found is None:
            return _error(400, "Bad Request: invalid file_id")
        path, data = found
        return {"file_id": params["file_id"], "file_unique_id": "u" + params["file_id"],
                "file_size": len(data), "file_path": path}

    async def _m_setWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        self.webhook = {"url": params.get("url", ""), "secret_token": params.get("secret_token"),
                        "allowed_updates": params.get("allowed_updates")}
        return True

    async def _m_deleteWebhook(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        self.webhook = {}
        return True

    async def _m_getWebhookInfo(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        info: dict[str, Any] = {"url": self.webhook.get("url", ""), "has_custom_certificate": False,
                                "pending_update_count": len(self._updates)}
        if self.webhook.get("allowed_updates"):
            info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _m_getUpdates(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        if self.webhook.get("url"):
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset", 0) or 0)
        self._updates = [update for update in self._updates if update["update_id"] >= offset]
        if not self._updates:
            self._updates_added.clear()
            try:
                async with asyncio.timeout(float(params.get("timeout", 0) or 0)):
                    await self._updates_added.wait()
            except TimeoutError:
                pass
        return [update for update in self._updates if update["update_id"] >= offset]

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        for stored_path, data in self.files.values():
            if stored_path == path:
                return web.Response(body=data)
        return web.Response(status=404)


async def _parse_body(request: web.Request) -> tuple[dict[str, Any], dict[str, bytes]]:
    params: dict[str, Any] = dict(request.query)
    files: dict[str, bytes] = {}
    if request.content_type == "application/json":
        params.update(await request.json())
        return params, files
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = value.file.read()
            elif name in JSON_FIELDS:
                params[name] = json.loads(str(value))
            else:
                params[name] = str(value)
    return params, files


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)
