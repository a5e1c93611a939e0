"""Fake Zalo servers on loopback: the OA API v3 (customer-service messages, uploads, file downloads),
OAuth v4 (single-use refresh tokens) and the Zalo Bot API, faithful where our code depends on them.

OA answers are HTTP 200 with `{"error": 0, "message": "Success", "data": …}` or `{"error": code, …}`;
the access token travels in the `access_token` header. Refresh tokens are single-use: a spent one is
refused like Zalo does. Bot API answers are `{"ok": true, "result": …}` or `{"ok": false, "error_code",
"description"}`. Every call is recorded, and each documented error can be injected.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from core.security import zalo_signature
from tests.support.loopback import serve_on_loopback

APP_ID = "1234567890123456789"
APP_SECRET = "app-secret-for-tests"
OA_SECRET = "oa-secret-key-for-tests"
OA_ID = "579745863508352884"
BOT_TOKEN = "3120745:zalo-bot-token-for-tests"
ACCESS_TOKEN = "access-0"
REFRESH_TOKEN = "refresh-0"
BOT_SECRET = "zalo-bot-webhook-secret"
TEXT_LIMIT = 2000


@dataclass
class Call:
    kind: str  # "cs", "upload_image", "upload_file", "oauth", or a Bot API method
    params: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = 0.0

    @property
    def user_id(self) -> str:
        return str(self.params.get("recipient", {}).get("user_id") or self.params.get("chat_id") or "")

    @property
    def message(self) -> dict[str, Any]:
        return self.params.get("message") or {}

    @property
    def text(self) -> str:
        return str(self.message.get("text") or self.params.get("text") or "")

    @property
    def buttons(self) -> list[dict[str, str]]:
        attachment = self.message.get("attachment") or {}
        return list((attachment.get("payload") or {}).get("buttons") or [])


class FakeZalo:
    def __init__(self, access_token: str = ACCESS_TOKEN, refresh_token: str = REFRESH_TOKEN,
                 bot_token: str = BOT_TOKEN) -> None:
        self.calls: list[Call] = []
        self.access_tokens = {access_token}
        self.expired_tokens: set[str] = set()
        self.refresh_tokens = {refresh_token}
        self.spent_refresh_tokens: set[str] = set()
        self.expires_in = "90000"
        self.bot_token = bot_token
        self.webhook: dict[str, Any] = {}
        self.files: dict[str, bytes] = {}
        self.not_following: set[str] = set()
        self.outside_window: set[str] = set()
        self._oa_failures: deque[list[Any]] = deque()
        self._oauth_failures: deque[dict[str, Any]] = deque()
        self._bot_failures: dict[str, deque[tuple[int, str]]] = {}
        self._updates: deque[dict[str, Any]] = deque()
        self._updates_added = asyncio.Event()
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # Lifecycle and addresses

    async def start(self) -> FakeZalo:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/v3.0/oa/message/cs", self._cs)
        app.router.add_post("/v2.0/oa/upload/{kind}", self._upload)
        app.router.add_post("/v4/oa/access_token", self._oauth)
        app.router.add_get("/files/{name}", self._file)
        app.router.add_post("/bot{token}/{method}", self._bot)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def file_url(self, name: str, data: bytes) -> str:
        self.files[name] = data
        return f"{self.base}/files/{name}"

    # Test controls

    def fail_oa(self, code: int, times: int = 1, kind: str = "cs", after: int = 0) -> None:
        """The next `times` calls of `kind` ("cs", "upload_image", "upload_file") answer error `code`
        (an HTTP status when ≥ 500), once `after` more calls have succeeded."""
        for number in range(times):
            self._oa_failures.append([kind, code, after if number == 0 else 0])

    def fail_oauth(self, error: int = -14014, name: str = "Invalid refresh token") -> None:
        self._oauth_failures.append({"error": error, "error_name": name,
                                     "error_description": "refresh token is invalid or expired"})

    def fail_bot(self, method: str, code: int, description: str, times: int = 1) -> None:
        queue = self._bot_failures.setdefault(method, deque())
        for _ in range(times):
            queue.append((code, description))

    def expire_access_tokens(self) -> None:
        self.expired_tokens |= self.access_tokens
        self.access_tokens = set()

    def add_update(self, update: dict[str, Any]) -> None:
        self._updates.append(update)
        self._updates_added.set()

    def sent(self, *kinds: str) -> list[Call]:
        wanted = set(kinds) or {"cs"}
        return [call for call in self.calls if call.kind in wanted]

    async def wait_for(self, count: int, *kinds: str, timeout: float = 10.0) -> list[Call]:  # noqa: ASYNC109
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.sent(*kinds)) >= count)
        return self.sent(*kinds)

    async def _record(self, call: Call) -> None:
        call.at = time.monotonic()
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()

    # OA API

    def _token_error(self, request: web.Request) -> web.Response | None:
        token = request.headers.get("access_token", "")
        if token in self.access_tokens:
            return None
        if token in self.expired_tokens:
            return _oa(-220, "Access token has expired")
        return _oa(-216, "Access token is invalid")

    def _injected(self, kind: str) -> web.Response | None:
        if self._oa_failures and self._oa_failures[0][0] == kind:
            if self._oa_failures[0][2] > 0:
                self._oa_failures[0][2] -= 1
                return None
            _, code, _ = self._oa_failures.popleft()
            if code >= 500:
                return web.Response(status=code, text="Service Unavailable")
            return _oa(code, {-32: "Exceeded rate limit", -201: "Parameters are invalid",
                              -213: "User has not followed OA", -230: "User has not interacted in 7 days",
                              -232: "Outside the interaction window"}.get(code, "Error"))
        return None

    async def _cs(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _oa(-201, "Body is not JSON")
        await self._record(Call("cs", body, dict(request.headers)))
        refused = self._token_error(request) or self._injected("cs")
        if refused is not None:
            return refused
        user = str((body.get("recipient") or {}).get("user_id") or "")
        message = body.get("message")
        if not user or not isinstance(message, dict):
            return _oa(-201, "Parameters are invalid")
        if user in self.not_following:
            return _oa(-213, "User has not followed OA")
        if user in self.outside_window:
            return _oa(-230, "User has not interacted in 7 days")
        text = message.get("text")
        if text is not None and (not isinstance(text, str) or not text or len(text) > TEXT_LIMIT):
            return _oa(-201, "Text is empty or longer than 2000 characters")
        if text is None and "attachment" not in message:
            return _oa(-201, "Message is empty")
        return _ok({"message_id": f"mid{next(self._ids)}", "user_id": user})

    async def _upload(self, request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        form = await request.post()
        upload = form.get("file")
        data = upload.file.read() if isinstance(upload, web.FileField) else b""
        call = Call(f"upload_{kind}", {"filename": getattr(upload, "filename", None)},
                    dict(request.headers), {"file": data})
        await self._record(call)
        refused = self._token_error(request) or self._injected(call.kind)
        if refused is not None:
            return refused
        if not data:
            return _oa(-201, "File is missing")
        if kind == "image":
            if len(data) > 1024 * 1024:
                return _oa(-201, "Image is larger than 1 MB")
            return _ok({"attachment_id": f"att{next(self._ids)}"})
        if len(data) > 5 * 1024 * 1024:
            return _oa(-201, "File is larger than 5 MB")
        return _ok({"token": f"tok{next(self._ids)}"})

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["name"])
        return web.Response(body=data) if data is not None else web.Response(status=404)

    # OAuth v4

    async def _oauth(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        await self._record(Call("oauth", {k: str(v) for k, v in form.items()}, dict(request.headers)))
        if request.headers.get("secret_key") != APP_SECRET or form.get("app_id") != APP_ID:
            return web.json_response({"error": -14002, "error_name": "Invalid app secret"})
        if self._oauth_failures:
            return web.json_response(self._oauth_failures.popleft())
        refresh = str(form.get("refresh_token") or "")
        if form.get("grant_type") != "refresh_token" or refresh not in self.refresh_tokens:
            return web.json_response({"error": -14014, "error_name": "Invalid refresh token",
                                      "error_description": "refresh token is invalid or has been used"})
        # Single use: the presented refresh token is spent, a new pair is issued.
        self.refresh_tokens.discard(refresh)
        self.spent_refresh_tokens.add(refresh)
        number = next(self._ids)
        access, new_refresh = f"access-{number}-{secrets.token_hex(4)}", f"refresh-{number}"
        self.expired_tokens |= self.access_tokens
        self.access_tokens = {access}
        self.refresh_tokens.add(new_refresh)
        return web.json_response({"access_token": access, "refresh_token": new_refresh,
                                  "expires_in": self.expires_in})

    # Bot API

    async def _bot(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.bot_token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"},
                                     status=401)
        method = request.match_info["method"]
        try:
            params = await request.json() if request.can_read_body else {}
        except ValueError:
            params = {}
        await self._record(Call(method, params, dict(request.headers)))
        queued = self._bot_failures.get(method)
        if queued:
            code, description = queued.popleft()
            return web.json_response({"ok": False, "error_code": code, "description": description},
                                     status=code if code >= 400 else 200)
        handler = getattr(self, f"_b_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        result = await handler(params)
        if isinstance(result, web.Response):
            return result
        return web.json_response({"ok": True, "result": result})

    async def _b_getMe(self, params: dict[str, Any]) -> Any:
        return {"id": self.bot_token.split(":")[0], "account_name": "xaso.bot", "display_name": "Xã Số"}

    async def _b_sendMessage(self, params: dict[str, Any]) -> Any:
        text = params.get("text")
        if not params.get("chat_id") or not isinstance(text, str) or not text or len(text) > TEXT_LIMIT:
            return _bot_error(400, "Bad Request: text is empty or too long")
        return {"message_id": f"bm{next(self._ids)}", "date": int(time.time() * 1000)}

    async def _b_sendPhoto(self, params: dict[str, Any]) -> Any:
        if not params.get("chat_id") or not params.get("photo"):
            return _bot_error(400, "Bad Request: photo is missing")
        return {"message_id": f"bp{next(self._ids)}", "date": int(time.time() * 1000)}

    async def _b_sendChatAction(self, params: dict[str, Any]) -> Any:
        return True

    async def _b_setWebhook(self, params: dict[str, Any]) -> Any:
        secret = str(params.get("secret_token") or "")
        if not str(params.get("url") or "").startswith("https://") or not 8 <= len(secret) <= 256:
            return _bot_error(400, "Bad Request: url must be https and secret_token 8-256 characters")
        self.webhook = {"url": params["url"], "secret_token": secret}
        return {"url": params["url"], "updated_at": int(time.time() * 1000)}

    async def _b_deleteWebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = {}
        return {"url": "", "updated_at": int(time.time() * 1000)}

    async def _b_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        return {"url": self.webhook.get("url", ""), "updated_at": int(time.time() * 1000)}

    async def _b_getUpdates(self, params: dict[str, Any]) -> Any:
        if self.webhook.get("url"):
            return _bot_error(409, "Conflict: webhook is active")
        if not self._updates:
            self._updates_added.clear()
            try:
                async with asyncio.timeout(min(float(params.get("timeout") or 0), 2.0)):
                    await self._updates_added.wait()
            except TimeoutError:
                pass
        if not self._updates:
            return _bot_error(408, "Request timeout")
        # The Bot API hands out one update per call, without the wrapper inside `result`.
        return self._updates.popleft()


def _ok(data: dict[str, Any]) -> web.Response:
    return web.json_response({"error": 0, "message": "Success", "data": data})


def _oa(code: int, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message})


def _bot_error(code: int, description: str) -> web.Response:
    return web.json_response({"ok": False, "error_code": code, "description": description}, status=code)


# Events as Zalo sends them


def oa_event(event_name: str, user_id: str = "2512523625412515", *, timestamp: int | None = None,
             **fields: Any) -> dict[str, Any]:
    stamp = str(timestamp if timestamp is not None else int(time.time() * 1000))
    if event_name in ("follow", "unfollow"):
        return {"oa_id": OA_ID, "follower": {"id": user_id}, "event_name": event_name,
                "app_id": APP_ID, "source": "oa_profile", "timestamp": stamp, **fields}
    return {"app_id": APP_ID, "user_id_by_app": "55214" + user_id[-6:], "event_name": event_name,
            "sender": {"id": user_id}, "recipient": {"id": OA_ID}, "timestamp": stamp, **fields}


def text_event(text: str, user_id: str = "2512523625412515", msg_id: str | None = None,
               **options: Any) -> dict[str, Any]:
    return oa_event("user_send_text", user_id,
                    message={"text": text, "msg_id": msg_id or f"msg{secrets.token_hex(8)}"}, **options)


def signed(event: dict[str, Any], secret: str = OA_SECRET, app_id: str = APP_ID,
           prefix: str = "mac=") -> tuple[bytes, dict[str, str]]:
    """The raw body and headers of a delivery, signed as Zalo does."""
    body = json.dumps(event, ensure_ascii=False).encode()
    signature = zalo_signature(app_id, body, str(event.get("timestamp", "")), secret)
    return body, {"X-ZEvent-Signature": prefix + signature, "Content-Type": "application/json"}


def bot_update(text: str | None = None, chat_id: str = "a1b2c3d4e5", *, wrapped: bool = True,
               event_name: str = "message.text.received", **message: Any) -> dict[str, Any]:
    content: dict[str, Any] = {
        "from": {"id": chat_id, "display_name": "Bình", "is_bot": False},
        "chat": {"id": chat_id, "chat_type": "PRIVATE"},
        "message_id": f"bmsg{secrets.token_hex(8)}", "date": int(time.time() * 1000), **message}
    if text is not None:
        content["text"] = text
    update = {"event_name": event_name, "message": content}
    return {"ok": True, "result": update} if wrapped else update
