"""The Zalo OA API v3 client (aiohttp): customer-service messages and uploads.

Zalo answers HTTP 200 even on error, with `{"error": code, "message": …}`. An invalid or expired token
(-216, -220) is refreshed and the call retried once; every other error is raised as `ZaloAPIError` for
the sender to judge.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from bots.zalo.tokens import TokenStore

SEND_PATH = "/v3.0/oa/message/cs"
UPLOAD_PATHS = {"image": "/v2.0/oa/upload/image", "file": "/v2.0/oa/upload/file"}
TOKEN_ERRORS = frozenset({-216, -220})
TIMEOUT = aiohttp.ClientTimeout(total=15)


class ZaloAPIError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"zalo error {code}: {message}")
        self.code = code
        self.message = message


class OAClient:
    def __init__(self, http: aiohttp.ClientSession | None, api_base: str, tokens: TokenStore) -> None:
        self.http = http
        self.api_base = api_base.rstrip("/")
        self.tokens = tokens

    async def send(self, user_id: str, message: dict[str, Any]) -> dict[str, Any]:
        body = {"recipient": {"user_id": user_id}, "message": message}
        return await self._call(SEND_PATH, json=body)

    async def upload(self, kind: str, filename: str, data: bytes, content_type: str) -> str:
        """The attachment id (image) or token (file) Zalo gives for an uploaded file."""
        def form() -> aiohttp.FormData:
            built = aiohttp.FormData()
            built.add_field("file", data, filename=filename, content_type=content_type)
            return built

        answer = await self._call(UPLOAD_PATHS[kind], form=form)
        found = answer.get("attachment_id") if kind == "image" else answer.get("token")
        if not isinstance(found, str) or not found:
            raise ZaloAPIError(-201, "upload answered without an id")
        return found

    async def _call(self, path: str, *, json: dict[str, Any] | None = None,
                    form: Any = None) -> dict[str, Any]:
        token, version = await self.tokens.access_token()
        for attempt in (1, 2):
            body = await self._post(path, token, json, form() if form is not None else None)
            code = _code(body)
            if code == 0:
                data = body.get("data")
                return data if isinstance(data, dict) else {}
            if code in TOKEN_ERRORS and attempt == 1:
                state = await self.tokens.refresh(version)
                if state.access_token is None:
                    break
                token, version = state.access_token, state.version
                continue
            raise ZaloAPIError(code, str(body.get("message") or "")[:120])
        raise ZaloAPIError(-216, "access token refused after a refresh")

    async def _post(self, path: str, token: str, json: dict[str, Any] | None,
                    form: aiohttp.FormData | None) -> dict[str, Any]:
        if self.http is None:
            raise aiohttp.ClientConnectionError("the Zalo HTTP client is not started")
        async with self.http.post(self.api_base + path, json=json, data=form,
                                  headers={"access_token": token}, timeout=TIMEOUT) as response:
            if response.status >= 500 or response.status == 429:
                raise aiohttp.ClientResponseError(response.request_info, (), status=response.status)
            body = await response.json(content_type=None)
        return body if isinstance(body, dict) else {"error": -1, "message": "not a JSON object"}


def _code(body: dict[str, Any]) -> int:
    try:
        return int(body.get("error", 0))
    except (TypeError, ValueError):
        return -1
