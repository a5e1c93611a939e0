"""NLU from a Rasa server (``POST /model/parse``), with the embedded engine as the safety net.

The embedded engine still sees every message first: its red-flag rules decide emergencies (a
Rasa model must never be able to miss one), and it answers alone whenever Rasa is slow, down or
talks nonsense, so the commune's internet going out never stops the assistant.

Rasa intents outside the inventory (``nlu_fallback`` from its FallbackClassifier, extra trained
ones) become ``out_of_scope``. The Rasa pipeline has no date/time extractor, so entity types
Rasa did not return are taken from the embedded extractor where they do not overlap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal, Protocol, TypeGuard

import aiohttp

from nlu.engine import EMERGENCY, INTENTS, OUT_OF_SCOPE, Entity, Parse
from nlu.normalize import is_blank
from nlu.rules import EmergencyRules

log = logging.getLogger(__name__)

FallbackReason = Literal["timeout", "connection", "status", "malformed"]


class LocalEngine(Protocol):
    """The fallback: an engine with emergency rules, like ``EmbeddedNLU``."""

    rules: EmergencyRules

    def parse(self, text: str) -> Parse: ...


class RasaUnavailable(Exception):
    """Rasa gave no usable answer; ``reason`` labels the fallback metric."""

    def __init__(self, reason: FallbackReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: FallbackReason = reason


class RasaNLU:
    def __init__(
        self,
        url: str,
        session: aiohttp.ClientSession,
        fallback: LocalEngine,
        *,
        timeout: float = 1.5,
        threshold: float = 0.0,
        on_fallback: Callable[[FallbackReason], None] | None = None,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/model/parse"
        self.session = session
        self.fallback = fallback
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.threshold = threshold
        self.on_fallback = on_fallback
        self._failing = False  # log on the change of state only, not on every message

    async def understand(self, text: str) -> Parse:
        local = self.fallback.parse(text)
        if is_blank(text):
            return local
        if self.fallback.rules.match(text):
            return replace(local, intent=EMERGENCY, confidence=1.0)
        try:
            remote = parse_rasa_answer(text, await self._ask(text), self.threshold)
        except RasaUnavailable as problem:
            self._fell_back(problem)
            return local
        if self._failing:
            log.info("Rasa at %s answers again", self.endpoint)
            self._failing = False
        return replace(remote, entities=_merged(remote.entities, local.entities))

    async def _ask(self, text: str) -> dict[str, Any]:
        try:
            async with self.session.post(self.endpoint, json={"text": text}, timeout=self.timeout) as answer:
                if answer.status != 200:
                    raise RasaUnavailable("status", f"HTTP {answer.status}")
                body = await answer.json(content_type=None)
        except TimeoutError as problem:  # before ClientError: ServerTimeoutError is both
            raise RasaUnavailable("timeout", f"no answer in {self.timeout.total}s") from problem
        except aiohttp.ClientError as problem:
            raise RasaUnavailable("connection", repr(problem)) from problem
        except ValueError as problem:  # not JSON, not UTF-8
            raise RasaUnavailable("malformed", repr(problem)) from problem
        if not isinstance(body, dict):
            raise RasaUnavailable("malformed", f"expected an object, got {type(body).__name__}")
        return body

    def _fell_back(self, problem: RasaUnavailable) -> None:
        if not self._failing:
            log.warning("Rasa at %s unusable (%s); the embedded NLU answers", self.endpoint, problem)
            self._failing = True
        if self.on_fallback is not None:
            self.on_fallback(problem.reason)


def parse_rasa_answer(text: str, body: dict[str, Any], threshold: float = 0.0) -> Parse:
    """Map Rasa's answer to a ``Parse`` of ``text``; an answer without an intent name is malformed."""
    intent = body.get("intent")
    name = intent.get("name") if isinstance(intent, dict) else None
    if not isinstance(name, str) or not name:
        raise RasaUnavailable("malformed", "no intent name")
    confidence = _number(intent.get("confidence")) if isinstance(intent, dict) else None
    confidence = min(max(confidence, 0.0), 1.0) if confidence is not None else 0.0
    if name not in INTENTS:
        name = OUT_OF_SCOPE
    elif confidence < threshold:
        name, confidence = OUT_OF_SCOPE, 1.0 - confidence
    entities = body.get("entities")
    found = [_entity(text, item) for item in entities] if isinstance(entities, list) else []
    ordered = sorted((e for e in found if e is not None), key=lambda e: (e.start, e.end))
    return Parse(text, name, round(confidence, 4), tuple(ordered))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value == value else None  # NaN is not a confidence


def _entity(text: str, item: object) -> Entity | None:
    """One Rasa entity, or None when a field is missing, of the wrong type, or off the text."""
    if not isinstance(item, dict):
        return None
    name, value, start, end = (item.get(key) for key in ("entity", "value", "start", "end"))
    if not isinstance(name, str) or not name or isinstance(value, bool | dict | list) or value is None:
        return None
    if not (_offset(start) and _offset(end)) or not 0 <= start < end <= len(text):
        return None
    return Entity(name, str(value), start, end)


def _offset(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _merged(remote: tuple[Entity, ...], local: tuple[Entity, ...]) -> tuple[Entity, ...]:
    """Rasa's entities, plus local ones of a type Rasa did not report that overlap none of them."""
    reported = {e.entity for e in remote}
    extra = [
        e for e in local
        if e.entity not in reported and all(e.end <= r.start or e.start >= r.end for r in remote)
    ]
    return tuple(sorted((*remote, *extra), key=lambda e: (e.start, e.end)))
