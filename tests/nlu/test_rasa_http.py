"""The Rasa HTTP client against a fake Rasa server on loopback, and a chat with XASO_NLU_BACKEND=rasa."""

from __future__ import annotations

import copy
import socket
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bots.assistant import Assistant
from bots.server import create_app
from core.config import Settings
from core.db import Database
from nlu.datetime import VIETNAM
from nlu.embedded import EmbeddedNLU
from nlu.engine import EMERGENCY, OUT_OF_SCOPE, Entity
from nlu.rasa_http import FallbackReason, RasaNLU, RasaUnavailable, parse_rasa_answer
from tests.support.chat import ChatSession, texts
from tests.support.fake_rasa import FakeRasa, rasa_entity

NOW = datetime(2026, 10, 14, 9, 0, tzinfo=VIETNAM)  # a Wednesday


@pytest.fixture
async def fake() -> AsyncIterator[FakeRasa]:
    server = FakeRasa()
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def fallbacks() -> list[FallbackReason]:
    return []


@pytest.fixture
def local(engine: EmbeddedNLU) -> EmbeddedNLU:
    fixed = copy.copy(engine)
    fixed.clock = lambda: NOW
    return fixed


@pytest.fixture
def rasa(fake: FakeRasa, http: aiohttp.ClientSession, local: EmbeddedNLU,
         fallbacks: list[FallbackReason]) -> RasaNLU:
    return RasaNLU(fake.url, http, local, timeout=0.3, threshold=0.3, on_fallback=fallbacks.append)


async def test_maps_intent_and_entities(rasa: RasaNLU, fake: FakeRasa, fallbacks: list[str]) -> None:
    text = "hồ sơ khai sinh LB-2026-000123 xong chưa"
    fake.intent, fake.confidence = "dossier_status", 0.9412
    fake.entities = [
        rasa_entity(text, "dossier_code", "LB-2026-000123"),
        rasa_entity(text, "procedure", "khai sinh", "birth_registration"),
    ]
    parse = await rasa.understand(text)
    assert fake.received == [{"text": text}]
    assert (parse.text, parse.intent, parse.confidence) == (text, "dossier_status", 0.9412)
    assert parse.entities == (
        Entity("procedure", "birth_registration", 6, 15),
        Entity("dossier_code", "LB-2026-000123", 16, 30),
    )
    assert fallbacks == []


async def test_local_dates_and_times_complete_rasa_entities(rasa: RasaNLU, fake: FakeRasa) -> None:
    fake.intent = "doctor_appointment"
    parse = await rasa.understand("hẹn khám sáng mai 8 giờ")
    assert parse.intent == "doctor_appointment"
    assert [(e.entity, e.value) for e in parse.entities] == [("date", "2026-10-15"), ("time", "08:00")]


@pytest.mark.parametrize("name", ["nlu_fallback", "weather_forecast"])
async def test_intents_outside_the_inventory_are_out_of_scope(rasa: RasaNLU, fake: FakeRasa,
                                                              name: str) -> None:
    fake.intent = name
    parse = await rasa.understand("thời tiết mai thế nào")
    assert parse.intent == OUT_OF_SCOPE


async def test_low_confidence_is_out_of_scope(rasa: RasaNLU, fake: FakeRasa) -> None:
    fake.intent, fake.confidence = "shop_order", 0.21
    parse = await rasa.understand("cái đó thì sao")
    assert (parse.intent, parse.confidence) == (OUT_OF_SCOPE, 0.79)


def test_missing_and_invalid_fields() -> None:
    text = "mua 2 cân chè"
    body: dict[str, Any] = {
        "intent": {"name": "shop_order", "confidence": "high"},
        "entities": [
            {"entity": "quantity", "value": "2", "start": 4, "end": 5},
            {"entity": "unit", "value": "kg"},  # no offsets
            {"entity": "product", "value": {"id": 1}, "start": 10, "end": 13},
            {"entity": "product", "value": "che", "start": 10, "end": 99},  # off the text
            {"entity": "", "value": "x", "start": 0, "end": 1},
            {"entity": "unit", "value": "kg", "start": True, "end": 9},
            "garbage",
        ],
    }
    parse = parse_rasa_answer(text, body)
    assert (parse.intent, parse.confidence) == ("shop_order", 0.0)
    assert parse.entities == (Entity("quantity", "2", 4, 5),)
    assert parse_rasa_answer(text, {"intent": {"name": "greet", "confidence": 7}}).confidence == 1.0
    assert parse_rasa_answer(text, {"intent": {"name": "greet"}, "entities": None}).entities == ()
    for broken in ({}, {"intent": None}, {"intent": {"name": None, "confidence": 0.0}}, {"intent": "greet"}):
        with pytest.raises(RasaUnavailable) as raised:
            parse_rasa_answer(text, broken)
        assert raised.value.reason == "malformed"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("slow", "timeout"), ("error", "status"), ("malformed", "malformed"), ("not_object", "malformed")],
)
async def test_falls_back_to_the_embedded_engine(rasa: RasaNLU, fake: FakeRasa, local: EmbeddedNLU,
                                                 fallbacks: list[str], mode: str, reason: str) -> None:
    fake.mode, fake.intent = mode, "goodbye"
    started = time.perf_counter()
    parse = await rasa.understand("xin chào")
    assert time.perf_counter() - started < 2  # the fake sleeps 5 s: the timeout cut it short
    assert parse == local.parse("xin chào")
    assert parse.intent == "greet"
    assert fallbacks == [reason]
    fake.mode = "ok"
    assert (await rasa.understand("xin chào")).intent == "goodbye"  # back to Rasa when it recovers
    assert fallbacks == [reason]


async def test_connection_refused_falls_back(http: aiohttp.ClientSession, local: EmbeddedNLU) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    reasons: list[str] = []
    rasa = RasaNLU(f"http://127.0.0.1:{port}", http, local, on_fallback=reasons.append)
    assert (await rasa.understand("cảm ơn nhé")).intent == "thanks"
    assert reasons == ["connection"]


async def test_emergency_rules_win_over_rasa(rasa: RasaNLU, fake: FakeRasa, fallbacks: list[str]) -> None:
    fake.intent, fake.confidence = "greet", 0.99
    for text in ("bố tôi đau ngực dữ dội khó thở", "chao ban, con toi bi co giat"):
        parse = await rasa.understand(text)
        assert (parse.intent, parse.confidence) == (EMERGENCY, 1.0)
    assert fake.received == []  # decided locally, Rasa not even asked
    assert fallbacks == []


async def test_blank_text_is_not_sent(rasa: RasaNLU, fake: FakeRasa) -> None:
    assert (await rasa.understand("  🙂 ")).intent == OUT_OF_SCOPE
    assert fake.received == []


async def test_chat_through_the_web_api_with_rasa(monkeypatch: pytest.MonkeyPatch, fake: FakeRasa,
                                                  settings: Settings, database: Database,
                                                  nlu_engine: EmbeddedNLU) -> None:
    monkeypatch.setenv("XASO_NLU_BACKEND", "rasa")
    monkeypatch.setenv("XASO_RASA_URL", fake.url)
    fields = settings.model_dump(exclude={"nlu_backend", "rasa_url"})
    rasa_settings = Settings(**fields, _env_file=None)
    assert (rasa_settings.nlu_backend, rasa_settings.rasa_url) == ("rasa", fake.url)
    assistant = Assistant.build(rasa_settings, nlu=nlu_engine, database=database)
    async with TestClient(TestServer(create_app(assistant))) as client:
        session = await ChatSession.open(client)
        fake.intent = "thanks"  # Rasa decides, even against what the embedded model would say
        assert "Không có gì" in texts(await session.say("xin chào"))
        assert fake.received == [{"text": "xin chào"}]
        fake.intent = "greet"
        replies = await session.say("bố tôi đau ngực dữ dội khó thở")
        assert replies[0]["text"].startswith("🚑")
        await fake.close()  # Rasa goes away: the embedded engine answers
        assert "Xin chào" in texts(await session.say("xin chào"))
        metrics = await (await client.get("/metrics")).text()
        assert 'xaso_nlu_fallbacks_total{reason="connection"} 1.0' in metrics
    assert assistant.nlu_session is None  # closed with the app


def test_rasa_project_files_match_the_inventory() -> None:
    import yaml

    from core.config import REPO_ROOT
    from nlu.engine import ENTITY_TYPES, INTENTS

    domain = yaml.safe_load((REPO_ROOT / "data" / "rasa" / "domain.yml").read_text(encoding="utf-8"))
    assert tuple(domain["intents"]) == INTENTS and tuple(domain["entities"]) == ENTITY_TYPES
    config = yaml.safe_load((REPO_ROOT / "data" / "rasa" / "config.yml").read_text(encoding="utf-8"))
    names = [component["name"] for component in config["pipeline"]]
    assert names[0] == "WhitespaceTokenizer" and names[-1] == "FallbackClassifier"
    assert {"DIETClassifier", "EntitySynonymMapper", "RegexFeaturizer"} <= set(names)
