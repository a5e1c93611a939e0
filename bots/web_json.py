"""JSON answers for every HTTP handler of ours (the web chat, pages, hooks, the dashboard, the server)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def json_response(data: Any, status: int = 200) -> web.Response:
    # Vietnamese stays readable and about half the size of \u escapes: cheap phones, slow links.
    return web.json_response(data, status=status, dumps=_dumps)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def error(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": code, "message": message}, status=status)
