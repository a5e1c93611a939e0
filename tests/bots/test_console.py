"""The console channel (`xaso chat`): numbered buttons, /phone and /location, the read loop, and the
real script fed from stdin."""

from __future__ import annotations

import asyncio
import io
import os
import queue
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from bots.assistant import Assistant
from bots.console import CHANNEL, ConsoleChat
from core.db import Database
from core.messages import Button, Location, Reply
from core.models import OutboxMessage, User
from nlu.embedded import EmbeddedNLU
from nlu.engine import NLUEngine
from tests.support.db import POSTGRES_URL

USER = "console-tester"
TIMEOUT = 30.0  # seconds for one in-process conversation
SCRIPT_TIMEOUT = 90.0
BUTTON_LINE = re.compile(r"^   \[(\d+)\] (.+)$", re.MULTILINE)


class Console:
    """A ConsoleChat writing to a StringIO, and what it printed for each line typed."""

    def __init__(self, assistant: Assistant) -> None:
        self.out = io.StringIO()
        self.chat = ConsoleChat(assistant.handle, assistant.services.outbox, USER, out=self.out)

    async def type(self, line: str) -> str:
        start = len(self.out.getvalue())
        await asyncio.wait_for(self.chat.say(line), TIMEOUT)
        return self.out.getvalue()[start:]

    def number_of(self, data: str) -> str:
        """What to type to press the button whose data is `data` among those just shown."""
        return str(self.chat.buttons.index(data) + 1)


def buttons_shown(screen: str) -> list[tuple[int, str]]:
    return [(int(number), label) for number, label in BUTTON_LINE.findall(screen)]


@pytest.fixture
def console(assistant: Assistant) -> Console:
    return Console(assistant)


async def test_start_greets_with_numbered_buttons(console: Console) -> None:
    screen = await console.type("/start")
    assert "Xin chào" in screen
    shown = buttons_shown(screen)
    assert len(shown) >= 5
    assert [number for number, _ in shown] == list(range(1, len(shown) + 1))
    assert len(console.chat.buttons) == len(shown)
    assert any("Dữ liệu của tôi" in label for _, label in shown)


async def test_typing_a_number_presses_that_button(console: Console) -> None:
    shown = buttons_shown(await console.type("/start"))
    number = next(str(n) for n, label in shown if "Dữ liệu của tôi" in label)
    assert console.chat.to_incoming(number).button == "menu:my_data"
    screen = await console.type(number)
    assert "Dữ liệu của bạn" in screen and "Mã người dùng" in screen
    # The numbers now belong to the buttons under the data summary; others are plain text.
    assert console.chat.buttons[0] == "mydata:export"
    assert "[1] " in screen
    beyond = str(len(console.chat.buttons) + 1)
    incoming = console.chat.to_incoming(beyond)
    assert incoming.button is None and incoming.text == beyond
    assert console.chat.to_incoming("0").button is None


async def test_phone_becomes_a_contact_after_consent(console: Console, database: Database,
                                                     assistant: Assistant) -> None:
    incoming = console.chat.to_incoming("/phone 0912345678")
    assert incoming.contact is not None and incoming.contact.phone == "0912345678"
    assert incoming.contact.verified is False and incoming.text is None

    asked = await console.type("/phone 0912345678")
    assert "đồng ý" in asked.lower()
    assert "Đã lưu" not in asked
    assert console.chat.buttons == ["consent:yes:contact", "consent:no:contact"]

    granted = await console.type(console.number_of("consent:yes:contact"))
    assert "/phone" in granted  # the console's hint for a reply that asks for the number

    saved = await console.type("/phone 0912 345 678")
    assert "Đã lưu số điện thoại 0912345678" in saved
    assert "xác minh" not in saved  # typed in a terminal: nobody vouches for it
    async with database.session() as session:
        user = (await session.execute(
            select(User).where(User.channel == CHANNEL, User.external_id == USER))).scalar_one()
    assert user.phone_enc is not None and "0912345678" not in user.phone_enc
    assert assistant.services.cipher.decrypt(user.phone_enc, "users.phone") == "0912345678"
    assert user.phone_verified is False


async def test_location_becomes_a_location(console: Console) -> None:
    incoming = console.chat.to_incoming("/location 21.6 105.6")
    assert incoming.location == Location(21.6, 105.6) and incoming.text is None
    screen = await console.type("/location 21.6 105.6")
    assert "7PH7JJ22+22" in screen  # a shared location answers with its digital address code
    for not_a_place in ("/location here", "/location 21.6"):
        fallback = console.chat.to_incoming(not_a_place)
        assert fallback.location is None and fallback.text == not_a_place


async def test_location_out_of_range_is_not_a_location(console: Console) -> None:
    for line in ("/location 999 -999", "/location nan inf", "/location 21.6 200"):
        assert console.chat.to_incoming(line).location is None, line


async def test_run_reads_until_eof_and_says_goodbye(console: Console) -> None:
    before = asyncio.all_tasks()
    await asyncio.wait_for(console.chat.run(io.StringIO("xin chao\n\n/help\n")), TIMEOUT)
    assert asyncio.all_tasks() <= before, "run() left a task behind (the outbox sender?)"
    screen = console.out.getvalue()
    assert screen.rstrip().splitlines()[-1].startswith("Tạm biệt")
    assert "Xin chào" in screen
    # /start, "xin chao" and /help answered; the blank line skipped; one prompt per read.
    assert len(re.findall(r"^🤖 ", screen, re.MULTILINE)) == 3, screen
    assert len(re.findall(r"^👤 $", screen, re.MULTILINE)) == 4, screen


class WaitingStdin(io.StringIO):
    """Its lines, then, instead of EOF at once, waits in the reader thread until `ready()` holds."""

    def __init__(self, text: str, ready: Callable[[], bool]) -> None:
        super().__init__(text)
        self.ready = ready

    def readline(self, size: int | None = -1) -> str:
        line = super().readline(size)
        deadline = time.monotonic() + TIMEOUT / 2
        while not line and not self.ready() and time.monotonic() < deadline:
            time.sleep(0.02)
        return line


async def test_run_prints_messages_pushed_through_the_outbox(console: Console, assistant: Assistant,
                                                             database: Database) -> None:
    pushed = "Hồ sơ LB-2026-000001 đã có kết quả."
    async with database.session() as session:
        await assistant.services.outbox.enqueue(session, channel=CHANNEL, chat_id=USER,
                                                reply=Reply(pushed), key="console-test:push:1")
    stdin = WaitingStdin("xin chao\n", lambda: pushed in console.out.getvalue())
    await asyncio.wait_for(console.chat.run(stdin), TIMEOUT)
    assert pushed in console.out.getvalue()
    async with database.session() as session:
        status = (await session.execute(
            select(OutboxMessage.status).where(OutboxMessage.key == "console-test:push:1"))).scalar_one()
    assert status == "sent"


async def test_xaso_chat_script_talks_on_stdin_and_stdout(tmp_path: Path, database: Database,
                                                          nlu_engine: NLUEngine) -> None:
    var_dir = tmp_path / "var"
    assert isinstance(nlu_engine, EmbeddedNLU)
    nlu_engine.save(var_dir / "nlu-model.joblib")  # the same nlu.yml: the script loads it, no training
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("XASO_")}
    env.update(XASO_DATABASE_URL=database.url, XASO_SECRET_KEY="console-test-secret",
               XASO_VAR_DIR=str(var_dir))
    script = Path(sys.executable).with_name("xaso")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bots.cli"]
    done = await asyncio.to_thread(
        subprocess.run, [*command, "chat"], input="xin chao\n/help\n", capture_output=True, text=True,
        encoding="utf-8", cwd=cwd, env=env, timeout=SCRIPT_TIMEOUT, check=False,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stdout.count("Xin chào") >= 2  # /start, then "xin chao"
    assert "[1] " in done.stdout
    assert done.stdout.rstrip().endswith("Tạm biệt!")
    if not POSTGRES_URL:
        assert not (cwd / "xaso.db").exists(), "XASO_DATABASE_URL was not honoured"


class TypedStdin(io.StringIO):
    """A terminal the test types into from the event loop; `readline` blocks in the reader thread."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: queue.Queue[str] = queue.Queue()

    def type(self, line: str) -> None:
        self.lines.put(f"{line}\n")

    def end(self) -> None:
        self.lines.put("")

    def readline(self, size: int | None = -1) -> str:
        try:
            return self.lines.get(timeout=TIMEOUT)
        except queue.Empty:
            return ""


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT / 2
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_a_pushed_button_is_pressed_by_the_number_shown(console: Console, assistant: Assistant,
                                                             database: Database) -> None:
    notice = "Bạn có một thông báo mới."
    stdin = TypedStdin()
    running = asyncio.create_task(console.chat.run(stdin))
    try:
        await until(lambda: "Dữ liệu của tôi" in console.out.getvalue(), "the greeting")
        async with database.session() as session:
            await assistant.services.outbox.enqueue(
                session, channel=CHANNEL, chat_id=USER, key="console-test:push:button",
                reply=Reply(notice, (Button("Xem dữ liệu", "menu:my_data"),)))
        await until(lambda: notice in console.out.getvalue(), "the pushed message")
        shown = buttons_shown(console.out.getvalue().split(notice, 1)[1])
        number = next(str(n) for n, label in shown if label == "Xem dữ liệu")
        mark = len(console.out.getvalue())
        stdin.type(number)
        await until(lambda: "🤖" in console.out.getvalue()[mark:], "the answer to the number typed")
        assert "Dữ liệu của bạn" in console.out.getvalue()[mark:]
    finally:
        stdin.end()
        await asyncio.wait_for(running, TIMEOUT)
