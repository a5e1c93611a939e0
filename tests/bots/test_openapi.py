"""`GET /openapi.json` (bots/openapi.py) cannot drift from the routes: with every channel on, the app's
route table and the document's operations are the same set; the served document lists what this server
serves, and is a valid OpenAPI 3.1 document."""

from __future__ import annotations

import schemathesis
from aiohttp.test_utils import TestClient

from bots.assistant import Assistant
from bots.openapi import OPERATIONS, document, registered
from bots.server import create_app
from core.config import Settings
from core.db import Database
from nlu.engine import NLUEngine
from tests.support.fake_telegram import LoopbackRequest
from tests.support.hostile import all_channels


def test_every_route_is_described_and_every_description_is_a_route(settings: Settings, database: Database,
                                                                   nlu_engine: NLUEngine) -> None:
    app = create_app(Assistant.build(all_channels(settings), nlu=nlu_engine, database=database),
                     telegram_request=LoopbackRequest)
    routes = registered(app)
    assert ("/shop/photos/{name}", "GET") in routes  # the shop is on with the demo catalogue
    assert routes - set(OPERATIONS) == set(), "routes without a description in bots/openapi.py"
    assert set(OPERATIONS) - routes == set(), "descriptions of routes the app does not register"


def test_the_full_document_is_valid_openapi_31() -> None:
    full = document("http://127.0.0.1:8080")
    assert full["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(full)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == len(OPERATIONS)
    for (path, method), operation in OPERATIONS.items():
        responses = operation["responses"]
        assert any(code.startswith(("4", "5")) for code in responses) or path in (
            "/", "/chat", "/healthz", "/metrics", "/openapi.json"), (path, method, "no error response")


async def test_the_served_document_lists_what_this_server_serves(client: TestClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status == 200 and response.content_type == "application/json"
    served = await response.json()
    paths = served["paths"]
    assert {"/api/chat/sessions", "/api/chat/messages", "/hooks/{source}", "/stripe/webhook", "/healthz",
            "/openapi.json", "/verify/{code}.json"} <= set(paths)
    assert "/telegram/webhook" not in paths and "/zalo/webhook" not in paths  # not configured here
    assert set(paths["/api/chat/messages"]) == {"get", "post"}
    assert paths["/api/chat/messages"]["post"]["security"] == [{"chatBearer": []}]
    assert served["servers"] == [{"url": "http://127.0.0.1:8080"}]
    assert "413" in paths["/api/chat/sessions"]["post"]["responses"]
