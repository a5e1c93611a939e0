"""Property-based fuzzing of every operation of `/openapi.json` (schemathesis) against `xaso serve` on
127.0.0.1: requests that fit the document and requests that do not, half of them with valid credentials
(a web chat token, a staff dashboard cookie, the webhooks' secrets, bodies signed as Zalo, Stripe and
Standard Webhooks sign them) so that the code behind authentication is reached too.

For every request: no 5xx; on /api/ and webhook routes an error is a JSON object with an `error`; and
nothing in the server's log (no traceback, no ERROR line). Bounded: `XASO_FUZZ_EXAMPLES` examples per
operation (50 by default), no deadline, no shrinking; the whole suite takes about a minute here.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.schemas import BaseSchema

from bots.openapi import OPERATIONS
from core.security import sign_standard_webhook, sign_stripe_payload, zalo_signature
from tests.fuzz.conftest import LiveServer
from tests.support import hostile

EXAMPLES = int(os.environ.get("XASO_FUZZ_EXAMPLES", "50"))
WEBHOOKS = ("/telegram/webhook", "/zalo/webhook", "/zalo/bot/webhook", "/stripe/webhook", "/hooks/{source}")


@pytest.fixture(scope="module")
def schema(live_server: LiveServer) -> BaseSchema:
    """The document the live server serves (its own route table), as schemathesis reads it."""
    served = live_server.send(method="GET", url=f"{live_server.base_url}/openapi.json")
    assert served.status_code == 200
    return schemathesis.openapi.from_dict(served.json())


def _strategy(schema: BaseSchema, path: str, method: str) -> st.SearchStrategy[Any]:
    operation = schema[path][method]
    modes = [operation.as_strategy(GenerationMode.POSITIVE)]
    with contextlib.suppress(Exception):  # an operation with nothing to violate has no negative cases
        modes.append(operation.as_strategy(GenerationMode.NEGATIVE))
    return st.tuples(st.one_of(modes), st.booleans())


def _raw_body(kwargs: dict[str, Any]) -> bytes:
    """The body the request will carry, as bytes (so that it can be signed), set as `data`."""
    if "json" in kwargs:
        raw = json.dumps(kwargs.pop("json")).encode()
        kwargs.setdefault("headers", {})["Content-Type"] = "application/json"
    else:
        data = kwargs.pop("data", b"")
        raw = data.encode() if isinstance(data, str) else data if isinstance(data, bytes) else b""
    kwargs["data"] = raw
    return raw


def _credentials(live: LiveServer, path: str, kwargs: dict[str, Any]) -> None:
    """Valid credentials for `path`, replacing whatever was generated."""
    headers: dict[str, str] = kwargs.setdefault("headers", {})
    headers.pop("Cookie", None)
    kwargs.pop("cookies", None)
    if path.startswith("/api/chat/"):
        headers["Authorization"] = f"Bearer {live.chat_token}"
    elif path.startswith(("/dashboard", "/api/stats")):
        headers["Cookie"] = f"xaso_dash={live.dashboard_cookie}"
    elif path == "/telegram/webhook":
        headers["X-Telegram-Bot-Api-Secret-Token"] = hostile.TELEGRAM_SECRET
    elif path == "/zalo/bot/webhook":
        headers["X-Bot-Api-Secret-Token"] = hostile.ZALO_BOT_SECRET
    elif path == "/zalo/webhook":
        stamp = str(int(time.time() * 1000))
        if isinstance(kwargs.get("json"), dict):
            kwargs["json"] = {**kwargs["json"], "timestamp": stamp}
        raw = _raw_body(kwargs)
        headers["X-ZEvent-Signature"] = "mac=" + zalo_signature(hostile.ZALO_APP_ID, raw, stamp,
                                                                hostile.ZALO_OA_SECRET)
    elif path == "/stripe/webhook":
        headers["Stripe-Signature"] = sign_stripe_payload(_raw_body(kwargs), hostile.STRIPE_SECRET,
                                                          int(time.time()))
    elif path == "/hooks/{source}":
        kwargs["url"] = f"{live.base_url}/hooks/onestop"  # the configured source
        headers.update(sign_standard_webhook(f"msg_{secrets.token_hex(8)}", int(time.time()),
                                             _raw_body(kwargs), hostile.HOOK_SECRET))


def check(live: LiveServer, path: str, method: str, response: requests.Response, sent: str) -> None:
    where = f"{method} {path} → {response.status_code}\n{sent}\n{response.text[:500]}"
    assert response.status_code < 500, where
    if response.status_code >= 400 and (path.startswith("/api/") or path in WEBHOOKS):
        assert response.headers.get("Content-Type", "").startswith("application/json"), where
        body = response.json()
        assert isinstance(body, dict) and isinstance(body.get("error"), str), where
    live.assert_log_clean(where)


@pytest.mark.parametrize(("path", "method"), sorted(OPERATIONS))
def test_no_operation_answers_5xx_or_logs_a_traceback(live_server: LiveServer, schema: BaseSchema,
                                                       path: str, method: str) -> None:
    if path == "/openapi.json":
        strategy: st.SearchStrategy[Any] = st.tuples(st.just(None), st.just(False))
    else:
        strategy = _strategy(schema, path, method)

    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=(Phase.explicit, Phase.generate),
              suppress_health_check=list(HealthCheck))
    @given(drawn=strategy)
    def run(drawn: tuple[Any, bool]) -> None:
        case, valid = drawn
        if case is None:
            kwargs: dict[str, Any] = {"method": method, "url": f"{live_server.base_url}{path}"}
        else:
            kwargs = case.as_transport_kwargs(base_url=live_server.base_url)
        if valid:
            _credentials(live_server, path, kwargs)
        sent = f"{kwargs.get('method')} {kwargs.get('url')} headers={kwargs.get('headers')} " \
               f"params={kwargs.get('params')} body={str(kwargs.get('json', kwargs.get('data')))[:300]}"
        try:
            response = live_server.send(**kwargs)
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeError):
            return  # the client refused to send it: nothing reached the server
        check(live_server, path, method, response, sent)

    run()

