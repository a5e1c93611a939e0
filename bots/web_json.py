"""JSON answers for every HTTP handler of ours (the web chat, pages, hooks, the dashboard, the server)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from core import fastjson


def json_response(data: Any, status: int = 200) -> web.Response:
    # Vietnamese stays readable and about half the size of \u escapes: cheap phones, slow links. Compact,
    # through orjson where installed (core/fastjson.py): the bytes and headers of
    # `web.json_response(data, dumps=json.dumps(…, ensure_ascii=False, separators=(",", ":")))`.
    return web.Response(body=fastjson.dumps(data), status=status, content_type="application/json",
                        charset="utf-8")


def error(status: int, code: str, message: str) -> web.Response:
    return json_response({"error": code, "message": message}, status=status)


# A webhook's refusals: one short JSON per status whatever the cause, so that a forger learns nothing
# (SECURITY.md: 401 with no detail; a malformed body 400).
REFUSALS = {400: "malformed", 401: "unauthorized", 404: "not_found", 413: "too_large"}


def refusal(status: int) -> web.Response:
    return json_response({"error": REFUSALS.get(status, "refused")}, status=status)
