"""The Zalo Bot API client: `POST {base}/bot<TOKEN>/<method>` with JSON, answers
`{"ok": true, "result": …}` or `{"ok": false, "error_code", "description"}`."""

from __future__ import annotations

from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=15)


class BotAPIError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(f"zalo bot error {code}: {description}")
        self.code = code
        self.description = description


class BotClient:
    def __init__(self, http: aiohttp.ClientSession | None, api_base: str, token: str) -> None:
        self.http = http
        self.api_base = api_base.rstrip("/")
        self._token = token

    async def call(self, method: str, params: dict[str, Any] | None = None, *,
                   timeout: float | None = None) -> Any:  # noqa: ASYNC109
        if self.http is None:
            raise aiohttp.ClientConnectionError("the Zalo Bot HTTP client is not started")
        url = f"{self.api_base}/bot{self._token}/{method}"
        limit = aiohttp.ClientTimeout(total=timeout) if timeout else TIMEOUT
        async with self.http.post(url, json=params or {}, timeout=limit) as response:
            status = response.status
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = None
        if not isinstance(body, dict):
            if status >= 500:
                raise aiohttp.ClientResponseError(None, (), status=status)  # type: ignore[arg-type]
            raise BotAPIError(status, "not a JSON answer")
        if body.get("ok") is True:
            return body.get("result")
        try:
            code = int(body.get("error_code") or status)
        except (TypeError, ValueError):
            code = status
        raise BotAPIError(code, str(body.get("description") or "")[:120])

    async def send_message(self, chat_id: str, text: str) -> Any:
        return await self.call("sendMessage", {"chat_id": chat_id, "text": text})

    async def send_photo(self, chat_id: str, photo: str, caption: str | None = None) -> Any:
        params = {"chat_id": chat_id, "photo": photo}
        if caption:
            params["caption"] = caption
        return await self.call("sendPhoto", params)

    async def send_chat_action(self, chat_id: str, action: str = "typing") -> Any:
        return await self.call("sendChatAction", {"chat_id": chat_id, "action": action})
