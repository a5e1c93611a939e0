"""A fake Rasa 3.x server on loopback: ``POST /model/parse`` answering in Rasa's own shape.

Tests set what it says (``intent``, ``confidence``, ``entities``) and how it misbehaves
(``mode``: ``ok``, ``slow``, ``error``, ``malformed``, ``not_object``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


def rasa_entity(text: str, entity: str, surface: str, value: Any = None) -> dict[str, Any]:
    """An entity as DIET reports it, with the synonym mapper's trace when the value differs."""
    start = text.index(surface)
    found: dict[str, Any] = {
        "entity": entity, "start": start, "end": start + len(surface),
        "confidence_entity": 0.9973, "value": surface if value is None else value,
        "extractor": "DIETClassifier",
    }
    if value is not None:
        found["processors"] = ["EntitySynonymMapper"]
    return found


class FakeRasa:
    def __init__(self) -> None:
        self.intent: str | None = "greet"
        self.confidence: float = 0.9871
        self.entities: list[dict[str, Any]] = []
        self.mode = "ok"
        self.delay = 5.0  # seconds, in "slow" mode
        self.received: list[Any] = []
        app = web.Application()
        app.router.add_post("/model/parse", self._parse)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def start(self) -> None:
        await self.server.start_server()

    async def close(self) -> None:
        await self.server.close()

    async def _parse(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.received.append(body)
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        if self.mode == "error":
            return web.json_response({"version": "3.6.20", "status": "failure", "message": "boom",
                                      "reason": "ParsingError", "code": 500}, status=500)
        if self.mode == "malformed":
            return web.Response(text='{"intent": {"name": "greet"', content_type="application/json")
        if self.mode == "not_object":
            return web.json_response(["greet"])
        return web.json_response(self.answer(body["text"]))

    def answer(self, text: str) -> dict[str, Any]:
        other = "goodbye" if self.intent != "goodbye" else "greet"
        rest = round((1 - self.confidence) * 0.8, 4)
        return {
            "text": text,
            "intent": {"name": self.intent, "confidence": self.confidence},
            "entities": self.entities,
            "text_tokens": [[m, m + len(w)] for m, w in _tokens(text)],
            "intent_ranking": [
                {"name": self.intent, "confidence": self.confidence},
                {"name": other, "confidence": rest},
                {"name": "nlu_fallback", "confidence": round(1 - self.confidence - rest, 4)},
            ],
            "response_selector": {
                "all_retrieval_intents": [],
                "default": {
                    "response": {"responses": None, "confidence": 0.0, "intent_response_key": None,
                                 "utter_action": "utter_None"},
                    "ranking": [],
                },
            },
        }


def _tokens(text: str) -> list[tuple[int, str]]:
    tokens: list[tuple[int, str]] = []
    position = 0
    for word in text.split():
        position = text.index(word, position)
        tokens.append((position, word))
        position += len(word)
    return tokens
