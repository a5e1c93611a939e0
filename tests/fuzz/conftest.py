"""The fuzz suite's server: `xaso serve` itself, in its own process on 127.0.0.1, every channel and webhook
on (their platforms pointed at a port where nothing answers), on the test database (a SQLite file, or
XASO_TEST_DATABASE_URL's PostgreSQL), its log in a file that the checks read after every request.

It holds the credentials of a web chat session and of a staff dashboard session, so that part of the
generated requests get past authentication to the code behind it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

from bots.dashboard import store
from core.config import Settings
from core.crypto import Hasher
from core.db import Database
from core.identity import grant_role
from core.models import User
from core.signing import create_commune_keys
from nlu.embedded import EmbeddedNLU
from tests.support import hostile
from tests.support.db import POSTGRES_URL

SECRET_KEY = "fuzz-test-secret-key-for-xaso"
START_TIMEOUT = 90.0  # seconds for `xaso serve` to answer /healthz on a busy machine
# What the server's log must never hold: a traceback, or an ERROR line.
BAD_LOG = re.compile(r"Traceback \(most recent call last\)|\bERROR\b|\bCRITICAL\b")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _xaso() -> list[str]:
    script = Path(sys.executable).with_name("xaso")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bots.cli"]


@dataclass
class LiveServer:
    base_url: str
    port: int
    log_path: Path
    settings: Settings
    chat_token: str = ""
    dashboard_cookie: str = ""
    http: requests.Session = field(default_factory=requests.Session)
    requests_sent: int = 0
    started: float = field(default_factory=time.monotonic)
    _log_offset: int = 0

    def new_log(self) -> str:
        """What the server logged since the last call."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            data = log.read()
        self._log_offset += len(data)
        return data.decode("utf-8", "replace")

    def assert_log_clean(self, context: str) -> None:
        logged = self.new_log()
        found = BAD_LOG.search(logged)
        assert found is None, f"{context}: the server logged\n{logged[max(0, found.start() - 2000):][:6000]}"

    def send(self, **kwargs: Any) -> requests.Response:
        self.requests_sent += 1
        return self.http.request(timeout=60, allow_redirects=False, **kwargs)


def _environment(database_url: str, var_dir: Path, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("XASO_")}
    env.update({
        "XASO_DATABASE_URL": database_url, "XASO_SECRET_KEY": SECRET_KEY, "XASO_VAR_DIR": str(var_dir),
        "XASO_PUBLIC_URL": f"http://127.0.0.1:{port}", "XASO_TTS_ENGINE": "espeak",
        "XASO_LOAD_DEMO_DATA": "false",
        "XASO_TELEGRAM_TOKEN": hostile.TELEGRAM_TOKEN,
        "XASO_TELEGRAM_WEBHOOK_SECRET": hostile.TELEGRAM_SECRET,
        "XASO_TELEGRAM_API_BASE": f"{hostile.UNREACHABLE}/bot",
        "XASO_ZALO_APP_ID": hostile.ZALO_APP_ID, "XASO_ZALO_OA_SECRET": hostile.ZALO_OA_SECRET,
        "XASO_ZALO_API_BASE": hostile.UNREACHABLE, "XASO_ZALO_OAUTH_BASE": hostile.UNREACHABLE,
        "XASO_ZALO_BOT_TOKEN": hostile.ZALO_BOT_TOKEN,
        "XASO_ZALO_BOT_WEBHOOK_SECRET": hostile.ZALO_BOT_SECRET,
        "XASO_ZALO_BOT_API_BASE": hostile.UNREACHABLE, "XASO_ZALO_BOT_MODE": "webhook",
        "XASO_STRIPE_WEBHOOK_SECRET": hostile.STRIPE_SECRET,
        "XASO_HOOK_SECRETS": json.dumps({"onestop": hostile.HOOK_SECRET}),
        "XASO_RATE_LIMIT_BURST": "100000", "XASO_RATE_LIMIT_PER_MINUTE": "1000000",
        "XASO_WEB_SESSIONS_BURST": "100000", "XASO_WEB_SESSIONS_PER_MINUTE": "1000000",
    })
    return env


async def _staff_session(settings: Settings, external_id: str) -> str:
    """Makes the web chat user `external_id` staff and opens a dashboard session for it (its cookie)."""
    database = Database(settings.database_url)
    try:
        async with database.session() as session:
            user_id = (await session.execute(select(User.id).where(
                User.channel == "web", User.external_id == external_id))).scalar_one()
            await grant_role(session, user_id, "staff", granted_by="fuzz")
            return await store.open_session(session, Hasher(settings.secret()), user_id,
                                            store.Lifetimes.from_settings(settings))
    finally:
        await database.close()


@pytest.fixture(scope="package")
def live_server(tmp_path_factory: pytest.TempPathFactory, nlu_engine: EmbeddedNLU) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("fuzz")
    var_dir = folder / "var"
    nlu_engine.save(var_dir / "nlu-model.joblib")  # nothing retrains
    database_url = POSTGRES_URL or f"sqlite+aiosqlite:///{folder / 'fuzz.db'}"
    settings = Settings(_env_file=None, database_url=database_url, var_dir=var_dir, secret_key=SECRET_KEY,
                        load_demo_data=False)
    create_commune_keys(var_dir / "keys", settings.commune_name)
    port = _free_port()
    log_path = folder / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([*_xaso(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                   env=_environment(database_url, var_dir, port), stdout=log,
                                   stderr=subprocess.STDOUT, cwd=folder)
    server = LiveServer(f"http://127.0.0.1:{port}", port, log_path, settings)
    server.http.trust_env = False  # never through a proxy from the environment
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert process.poll() is None, log_path.read_text(errors="replace")
            try:
                if server.http.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "xaso serve did not start:\n" + log_path.read_text(
                errors="replace")
            time.sleep(0.2)
        opened = server.send(method="POST", url=f"{server.base_url}/api/chat/sessions",
                             json={"language": "vi"})
        assert opened.status_code == 200, opened.text
        server.chat_token = opened.json()["token"]
        server.dashboard_cookie = asyncio.run(_staff_session(settings, opened.json()["user_id"]))
        assert server.send(method="GET", url=f"{server.base_url}/api/stats",
                           cookies={"xaso_dash": server.dashboard_cookie}).status_code == 200
        server.assert_log_clean("starting the server")
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        server.http.close()
