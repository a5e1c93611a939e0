"""The public address (`XASO_PUBLIC_URL`) of `xaso serve`: derived from the address served when unset,
checked when set, agreed on by the nodes sharing a database; and a first start whose log does not
contradict itself about the signing keys."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import ProxyHandler, build_opener

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bots.assistant import Assistant
from bots.cli import build_parser, serve_app, serve_settings
from bots.server import ASSISTANT, create_app
from core.config import Settings
from core.db import Database
from core.public_url import public_address, served_url
from nlu.embedded import EmbeddedNLU
from tests.support.chat import ChatSession

SECRET = "public-url-test-secret-key"
TIMEOUT = 90.0  # seconds for the served process to answer /healthz (the machine may be busy)
LOOPBACK = build_opener(ProxyHandler({}))  # never through an HTTP proxy from the environment


def _xaso_command() -> list[str]:
    script = Path(sys.executable).with_name("xaso")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bots.cli"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve_environment(database: Database, var_dir: Path) -> dict[str, str]:
    """This process's environment without any XASO_* (so no XASO_PUBLIC_URL), on the test database."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("XASO_")}
    env.update(XASO_DATABASE_URL=database.url, XASO_SECRET_KEY=SECRET, XASO_VAR_DIR=str(var_dir),
               XASO_TTS_ENGINE="espeak")
    return env


@pytest.fixture
def var_dir(tmp_path: Path, nlu_engine: EmbeddedNLU) -> Path:
    """A fresh var directory (no keys) holding the trained model, so that nothing retrains."""
    var = tmp_path / "var"
    nlu_engine.save(var / "nlu-model.joblib")
    return var


@pytest.fixture
def serve_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database: Database, var_dir: Path) -> Path:
    """`xaso serve`'s environment in this process: no XASO_PUBLIC_URL, no .env, the test database."""
    for key in [key for key in os.environ if key.startswith("XASO_")]:
        monkeypatch.delenv(key)
    for key, value in _serve_environment(database, var_dir).items():
        monkeypatch.setenv(key, value)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return var_dir


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


# ---------------------------------------------------------------------------------------------------
# Without XASO_PUBLIC_URL: the address served


async def test_serve_on_port_8090_links_to_port_8090(serve_env: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    app = serve_app(build_parser().parse_args(["serve", "--port", "8090"]))
    assistant = app[ASSISTANT]
    assert assistant.services.settings.public_url == "http://127.0.0.1:8090"
    assert any("http://127.0.0.1:8090" in message for message in caplog.messages)
    async with TestClient(TestServer(app)) as client:  # the app itself listens on 127.0.0.1, any port
        chat = await ChatSession.open(client)
        await chat.say("/mydata")
        (reply,) = await chat.press("mydata:export")
        link = urlsplit(reply["document_url"])
        assert (link.scheme, link.netloc) == ("http", "127.0.0.1:8090")
        assert link.path.startswith("/media/")
        assert (await client.get(f"{link.path}?{link.query}")).status == 200


def test_serving_every_interface_links_to_127_0_0_1_and_says_so(serve_env: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for host in ("0.0.0.0", "::"):  # noqa: S104  (only parsed here, never bound)
        caplog.clear()
        settings = serve_settings(build_parser().parse_args(["serve", "--host", host, "--port", "8091"]))
        assert settings.public_url == "http://127.0.0.1:8091"
        (note,) = [message for message in caplog.messages if "XASO_PUBLIC_URL is not set" in message]
        assert "127.0.0.1" in note and host in note and "every interface" in note
        assert not _warnings(caplog)


def test_served_url_of_a_named_or_ipv6_host() -> None:
    assert served_url("localhost", 8090) == "http://localhost:8090"
    assert served_url("192.168.1.20", 80) == "http://192.168.1.20:80"
    assert served_url("::1", 8090) == "http://[::1]:8090"


# ---------------------------------------------------------------------------------------------------
# An explicit XASO_PUBLIC_URL


@pytest.mark.parametrize("public_url", ["http://127.0.0.1:8080", "http://localhost:8080/",
                                        "http://[::1]:8080"])
def test_a_local_public_url_on_another_port_is_warned_about(
        serve_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        public_url: str) -> None:
    monkeypatch.setenv("XASO_PUBLIC_URL", public_url)
    settings = serve_settings(build_parser().parse_args(["serve", "--port", "8090"]))
    assert settings.public_url == public_url.rstrip("/")  # kept: the operator chose it
    (warning,) = _warnings(caplog)
    assert settings.public_url in warning and "port 8080" in warning and "port 8090" in warning
    assert "XASO_PUBLIC_URL=http://127.0.0.1:8090" in warning


@pytest.mark.parametrize("public_url", ["https://xa.example.vn", "http://127.0.0.1:8090",
                                        "http://xa.example.vn:8080"])
def test_a_public_url_that_fits_is_not_warned_about(
        serve_env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        public_url: str) -> None:
    monkeypatch.setenv("XASO_PUBLIC_URL", public_url)
    settings = serve_settings(build_parser().parse_args(["serve", "--port", "8090"]))
    assert settings.public_url == public_url
    assert not _warnings(caplog)


def test_the_host_served_counts_as_local(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, var_dir=tmp_path, public_url="http://10.1.2.3:8080")
    warned = public_address(settings, "10.1.2.3", 9000)
    assert warned.url == "http://10.1.2.3:8080" and warned.warning is not None
    assert public_address(settings, "127.0.0.1", 9000).warning is None  # 10.1.2.3 may be a proxy


def test_a_public_url_that_is_not_an_address_stops_the_start(tmp_path: Path) -> None:
    for wrong in ("xa.example.vn", "ftp://xa.example.vn", "http://", "http://xa.example.vn:port"):
        with pytest.raises(ValueError, match="XASO_PUBLIC_URL"):
            Settings(_env_file=None, var_dir=tmp_path, public_url=wrong)


# ---------------------------------------------------------------------------------------------------
# Nodes sharing one database


def _node_settings(tmp_path: Path, database: Database, name: str, public_url: str) -> Settings:
    return Settings(_env_file=None, database_url=database.url, var_dir=tmp_path / name,
                    secret_key=SECRET, public_url=public_url, load_demo_data=False, tts_engine="espeak")


async def _start_node(settings: Settings, nlu_engine: EmbeddedNLU) -> None:
    """Starts and stops one node (its own Database, as a separate process would have) on the database."""
    app = create_app(Assistant.build(settings, nlu=nlu_engine, database=Database(settings.database_url)))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/healthz")).status == 200


async def test_nodes_on_one_database_that_disagree_on_the_public_url_are_told(
        tmp_path: Path, database: Database, nlu_engine: EmbeddedNLU,
        caplog: pytest.LogCaptureFixture) -> None:
    first = _node_settings(tmp_path, database, "node1", "https://xa.example.vn")
    second = _node_settings(tmp_path, database, "node2", "http://10.0.0.2:8080")
    await _start_node(first, nlu_engine)
    await _start_node(first, nlu_engine)  # a restart with the same address
    assert not [message for message in _warnings(caplog) if "public address" in message]
    await _start_node(second, nlu_engine)
    (warning,) = [message for message in _warnings(caplog) if "public address" in message]
    assert "https://xa.example.vn" in warning and "http://10.0.0.2:8080" in warning
    assert "XASO_PUBLIC_URL" in warning and "links" in warning


async def test_nodes_that_agree_are_not_told(tmp_path: Path, database: Database, nlu_engine: EmbeddedNLU,
                                             caplog: pytest.LogCaptureFixture) -> None:
    await _start_node(_node_settings(tmp_path, database, "node1", "https://xa.example.vn"), nlu_engine)
    await _start_node(_node_settings(tmp_path, database, "node2", "https://xa.example.vn/"), nlu_engine)
    assert not [message for message in _warnings(caplog) if "public address" in message]


# ---------------------------------------------------------------------------------------------------
# The first start


async def test_first_start_log_does_not_contradict_itself_about_keys(
        tmp_path: Path, database: Database, nlu_engine: EmbeddedNLU,
        caplog: pytest.LogCaptureFixture) -> None:
    settings = _node_settings(tmp_path, database, "fresh", "http://127.0.0.1:8080")
    settings = settings.model_copy(update={"load_demo_data": True})
    await _start_node(settings, nlu_engine)
    log = "\n".join(_warnings(caplog))
    assert "made the commune's signing keys" in log
    assert "no signing keys" not in log and "runs `xaso keys init`" not in log
    assert (settings.var_dir / "keys" / "signing.key").exists()
    caplog.clear()
    await _start_node(settings, nlu_engine)  # second start: keys there, nothing said about them
    assert "signing keys" not in "\n".join(_warnings(caplog))


@pytest.fixture
def served(tmp_path: Path, database: Database, var_dir: Path) -> Iterator[tuple[int, Path]]:
    """`xaso serve --port N` for real, on 127.0.0.1, a first start without XASO_PUBLIC_URL; yields the
    port and the file its log goes to, and stops it with SIGINT (as Ctrl-C would)."""
    port, log_path = _free_port(), tmp_path / "serve.log"
    (tmp_path / "cwd").mkdir(exist_ok=True)
    with log_path.open("w", encoding="utf-8") as log_file:
        process = subprocess.Popen([*_xaso_command(), "serve", "--port", str(port)], cwd=tmp_path / "cwd",
                                   env=_serve_environment(database, var_dir), stdout=log_file,
                                   stderr=subprocess.STDOUT)
        try:
            yield port, log_path
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_health(port: int, log_path: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            with LOOPBACK.open(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                assert json.loads(response.read()) == {"status": "ok"}
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"no /healthz answer; log:\n{log_path.read_text()}") from None
            time.sleep(0.2)


def test_xaso_serve_on_a_port_says_its_links_use_that_port(served: tuple[int, Path]) -> None:
    port, log_path = served
    _wait_for_health(port, log_path)
    for _ in range(50):  # the first-start lines follow /healthz closely
        log = log_path.read_text(encoding="utf-8")
        if "/join" in log:
            break
        time.sleep(0.1)
    assert f"links in messages use http://127.0.0.1:{port}" in log, log
    assert "made the commune's signing keys" in log, log
    assert "no signing keys" not in log and "runs `xaso keys init`" not in log, log
    assert not re.search(r"WARNING .*public address", log), log


# ---------------------------------------------------------------------------------------------------
# --help: every option says its default


def _help_of(command: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    return capsys.readouterr().out


def _entries(help_text: str) -> dict[str, str]:
    """Each argument's entry in a help text (its first word → the entry's whole text)."""
    entries: dict[str, str] = {}
    current = ""
    for line in help_text.splitlines():
        if re.match(r"  \S", line):
            current = line.split()[0].rstrip(",")
            entries[current] = line
        elif line.startswith("   ") and current:
            entries[current] += " " + line.strip()
        else:
            current = ""
    return entries


@pytest.mark.parametrize(("command", "options"), [
    ("serve", {"--host": "127.0.0.1", "--port": "8080", "--telegram-polling": "off",
               "--zalo-polling": "off"}),
    ("chat", {"--user": "console-user"}),
    ("invite", {"--seller": "none", "--stay": "none", "--commune": "none"}),
])
def test_every_option_of_serve_chat_and_invite_states_its_default(
        command: str, options: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    help_text = _help_of(command, capsys)
    usage_options = set(re.findall(r"\[(--[\w-]+)", help_text)) - {"--help"}
    assert usage_options == set(options), help_text
    entries = _entries(help_text)
    for option, default in options.items():
        assert re.search(rf"\(default: {re.escape(default)}\b", " ".join(entries[option].split())), entries


def test_invite_explains_its_role_argument(capsys: pytest.CaptureFixture[str]) -> None:
    role = _entries(_help_of("invite", capsys))["role"]
    assert all(name in role for name in ("staff", "doctor", "seller", "admin")), role


def test_xaso_serve_help_runs_as_a_command(tmp_path: Path) -> None:
    done = subprocess.run([*_xaso_command(), "serve", "--help"], capture_output=True, text=True,
                          encoding="utf-8", cwd=tmp_path, timeout=TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    assert "(default: 127.0.0.1)" in done.stdout and "(default: 8080)" in done.stdout
