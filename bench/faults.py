"""Fault benchmark: two `xaso serve` nodes on one PostgreSQL, one of them killed with SIGKILL in the middle
of an announcement's fan-out, again and again; optionally PostgreSQL itself restarted under load. It
counts what was lost (must be none) and what arrived twice (must stay within the in-flight bound that
docs/operations.md "Delivery guarantees" states), and how long a dead node's work waited.

Everything runs on 127.0.0.1: the fake Telegram Bot API of tests/support (in this process, answering each
send `--send-delay` seconds after recording it, as a distant server does), two `xaso serve` children
on free ports sharing one working directory (model, keys) and one secret key, and the database given,
whose `public` schema is dropped and recreated first: give it a database of its own.

1. Set-up: both nodes started, a staff member made with `xaso invite staff` and `/join`, `--subscribers`
   Telegram users subscribed to the `general` topic (written straight to the database).
2. `--kills` rounds. In each, the staff member writes an announcement through the webhook of the node
   that survives (`/announce`, whole commune, topic, now, confirm: each subscriber gets its text, then
   its voice note); once the fan-out has begun and after a random delay, `--updates` villagers write to
   the other node's webhook (each answered 200, so Telegram would never send them again), and a moment
   later that node is killed (SIGKILL) and started again at once. The round ends when every subscriber
   has the announcement and every villager an answer.
3. With `--pg-restart`: one more announcement, villagers writing to both nodes and web chat sessions
   opened meanwhile, and PostgreSQL restarted in the middle (`pg_ctlcluster VERSION CLUSTER restart` for
   the cluster on the database's port, or `--pg-restart-command`). Refused when another database of
   the cluster has clients (someone else's tests), unless `--pg-restart-anyway`. Nodes must answer
   every request with an HTTP status (a 5xx with a JSON body while the database is away), stay up, and
   deliver everything acknowledged.

Lost: an announcement part (text or voice) a subscriber never got, a villager never answered, an outbox
row or inbox event not done at the end. Doubled: every repeat of the same part to the same chat (the
staff member's own chat aside). The bound is the number of Bot API calls that can be in flight when a
node dies or loses its database: one per channel sender per node (`core.outbox.IN_FLIGHT_PER_SENDER`),
times the kills, plus the nodes times the database restarts. Exit status 0 only when nothing was lost,
doubles stayed within the bound, every villager was answered and the run kept to `--budget` seconds.

    su postgres -c "createdb -O xaso xaso_faults"   # once
    .venv/bin/python -m bench.faults                 # 10 kills, about 3 minutes on 2 cores
    .venv/bin/python -m bench.faults --quick         # 3 kills
    .venv/bin/python -m bench.faults --pg-restart    # as root or postgres, on a cluster of its own
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.webchat import (
    HOST,
    Server,
    check_loopback,
    free_port,
    log,
    log_tail,
    reset_postgres,
    server_command,
    server_environment,
    wait_healthy,
)
from tests.support.fake_telegram import SEND_METHODS, TOKEN, FakeTelegram

DESCRIPTION = ("Fault benchmark: nodes killed mid-broadcast (and PostgreSQL restarted), "
               "counting lost and doubled messages against the fake Telegram Bot API.")
DEFAULT_URL = "postgresql+asyncpg://xaso:xaso@127.0.0.1:5432/xaso_faults"
WEBHOOK_SECRET = "faults-webhook-secret"  # noqa: S105 (a throwaway secret for a loopback fake)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
STAFF_CHAT = 4_200_001
SUBSCRIBER_BASE = 700_000_000
VILLAGER_BASE = 800_000_000
TOPIC = "general"
MARK = "đợt"  # "đợt N" in each announcement's text tells the rounds apart
READY_TIMEOUT = 120.0  # the first start trains the NLU model
STEP_TIMEOUT = 30.0
ROUND_TIMEOUT = 90.0
POST_TIMEOUT = 10.0
KILL_SIGNAL = signal.SIGKILL


# ---------------------------------------------------------------------------------------------- fake
class FaultFake(FakeTelegram):
    """The tests' fake (every call recorded with its arrival time: a send is the user's from then on)."""

    def texts_to(self, chat: int, since: int = 0) -> list[tuple[int, dict[str, Any]]]:
        return [(index, call.params) for index, call in enumerate(self.calls[since:], since)
                if call.method == "sendMessage" and int(call.params.get("chat_id", 0)) == chat]


def buttons_of(params: dict[str, Any]) -> list[str]:
    markup = params.get("reply_markup") or {}
    rows = markup.get("inline_keyboard", [])
    return [str(button.get("callback_data", "")) for row in rows for button in row]


# --------------------------------------------------------------------------------------------- nodes
@dataclass
class Node:
    name: str
    port: int
    env: dict[str, str]
    workdir: Path
    process: asyncio.subprocess.Process | None = None
    incarnation: int = 0
    logs: list[Path] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self, fake: FakeTelegram, connections: int | None = None) -> float:
        """Starts the node; returns once it is healthy and the fake has answered `connections` getMe calls
        in all (by default one more than now: this node's), in seconds."""
        started = time.monotonic()
        connected = len(fake.sent("getMe")) + 1 if connections is None else connections
        self.incarnation += 1
        path = self.workdir / f"{self.name}-{self.incarnation}.log"
        self.logs.append(path)
        with path.open("wb") as log_file:
            self.process = await asyncio.create_subprocess_exec(
                *server_command(self.port, None), cwd=self.workdir, env=self.env,
                stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=asyncio.subprocess.STDOUT,
                start_new_session=True)
        server = Server(self.process, self.base_url, path)
        await wait_healthy(server)
        async with asyncio.timeout(READY_TIMEOUT):
            while len(fake.sent("getMe")) < connected:
                if self.process.returncode is not None:
                    raise RuntimeError(f"{self.name} exited\n{log_tail(server)}")
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # getMe answered → the inbox processor starts
        return time.monotonic() - started

    def kill(self) -> None:
        if self.alive:
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(KILL_SIGNAL)

    async def wait_dead(self) -> None:
        if self.process is not None:
            await self.process.wait()

    async def stop(self) -> None:
        if not self.alive:
            return
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.kill()
            await self.process.wait()

    def errors(self) -> list[str]:
        found = []
        for path in self.logs:
            with contextlib.suppress(OSError):
                lines = path.read_text(errors="replace").splitlines()
                found.extend(line for line in lines if " ERROR " in line)
        return found


def node_environment(database_url: str, fake: FakeTelegram, workdir: Path, secret_key: str,
                     lease: float | None, rate: float) -> dict[str, str]:
    env = server_environment(database_url)
    env.update({
        "XASO_SECRET_KEY": secret_key, "XASO_VAR_DIR": str(workdir / "var"),
        "XASO_TELEGRAM_TOKEN": TOKEN, "XASO_TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "XASO_TELEGRAM_API_BASE": fake.api_base, "XASO_LOAD_DEMO_DATA": "false",
        "XASO_TTS_ENGINE": "espeak",  # offline: CI has no network
        "XASO_TELEGRAM_GLOBAL_RATE": f"{rate:g}",
    })
    if lease is not None:
        env["XASO_LEASE_SECONDS"] = f"{lease:g}"
    return env


# ------------------------------------------------------------------------------------------- traffic
_update_ids = itertools.count(1)


def message_update(chat: int, text: str) -> dict[str, Any]:
    number = next(_update_ids)
    person = {"id": chat, "is_bot": False, "first_name": "Dân", "language_code": "vi"}
    return {"update_id": number, "message": {"message_id": number, "date": int(time.time()), "text": text,
                                             "from": person, "chat": {"id": chat, "type": "private"}}}


def button_update(chat: int, callback_data: str) -> dict[str, Any]:
    number = next(_update_ids)
    person = {"id": chat, "is_bot": False, "first_name": "Cán bộ", "language_code": "vi"}
    return {"update_id": number, "callback_query": {
        "id": f"cbq{number}", "from": person, "chat_instance": "-1", "data": callback_data,
        "message": {"message_id": 1, "date": int(time.time()), "chat": {"id": chat, "type": "private"},
                    "text": "…"}}}


async def post(client: aiohttp.ClientSession, node: Node, update: dict[str, Any]) -> int:
    """Posts an update to a node's webhook; its HTTP status, or 0 when nothing answered."""
    try:
        async with client.post(f"{node.base_url}/telegram/webhook", json=update,
                               headers={SECRET_HEADER: WEBHOOK_SECRET}) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


async def staff_step(client: aiohttp.ClientSession, fake: FaultFake, node: Node, update: dict[str, Any],
                     wanted: str | None) -> str | None:
    """One staff turn; the callback_data of the button `wanted` (data prefix) in the answer."""
    since = len(fake.calls)
    if await post(client, node, update) != 200:
        raise RuntimeError(f"the staff update was refused by {node.name}")
    async with asyncio.timeout(STEP_TIMEOUT):
        while True:
            for _index, params in fake.texts_to(STAFF_CHAT, since):
                if wanted is None:
                    return None
                for data in buttons_of(params):
                    if data.startswith(f"{wanted}~"):
                        return data
            await asyncio.sleep(0.05)


async def announce(client: aiohttp.ClientSession, fake: FaultFake, node: Node, number: int) -> None:
    """The staff member writes announcement `number` to the whole commune and confirms it."""
    text = (f"Thông báo {MARK} {number}: sáng mai 7 giờ họp xóm tại nhà văn hoá, "
            f"mời mỗi hộ một người đến dự.")
    data = await staff_step(client, fake, node, message_update(STAFF_CHAT, f"/announce {text}"),
                            "announce:all")
    for wanted in (f"announce:topic:{TOPIC}", "announce:when:now", "announce:confirm"):
        assert data is not None
        data = await staff_step(client, fake, node, button_update(STAFF_CHAT, data), wanted)
    assert data is not None
    # Confirmed: the staff member's own answer comes after the fan-out (the outbox goes oldest first).
    if await post(client, node, button_update(STAFF_CHAT, data)) != 200:
        raise RuntimeError(f"the confirmation was refused by {node.name}")


def round_of(text: str) -> int | None:
    found = re.search(rf"{MARK} (\d+):", text)
    return int(found.group(1)) if found else None


# ---------------------------------------------------------------------------------------- accounting
@dataclass
class Round:
    number: int
    kind: str  # "kill" or "pg-restart"
    villagers: list[int] = field(default_factory=list)
    fault_at: float = 0.0  # monotonic time of the kill or of the restart command
    fault_after_fanout: float = 0.0  # seconds after the fan-out began
    restart_seconds: float = 0.0
    complete_after_fault: float | None = None
    held_at_fault: int = 0  # outbox rows and inbox events held (leased) by either node just after it
    taken_over_after: float | None = None  # until every one of them was finished or leased anew
    answered_after_fault: list[float] = field(default_factory=list)  # villagers answered after the fault


class Ledger:
    """What the fake received, read as deliveries (incrementally: the fake's calls only grow)."""

    def __init__(self, fake: FaultFake, subscribers: int) -> None:
        self.fake = fake
        self.subscribers = [SUBSCRIBER_BASE + n for n in range(subscribers)]
        self._seen = 0
        self._texts: dict[int, dict[int, float]] = {}  # round → subscriber chat → first arrival
        self._first_message: dict[int, float] = {}  # chat → first message's arrival
        self._voices: set[tuple[int, str]] = set()
        self._voice_count: Counter[int] = Counter()  # chat → distinct voice notes
        self._sends: Counter[tuple[int, str, str]] = Counter()  # (chat, method, content digest)
        self._content_round: dict[str, int] = {}  # an announcement's text or voice digest → its round
        self._latest_round = 0

    def _catch_up(self) -> None:
        calls = self.fake.calls
        for call in calls[self._seen:]:
            if call.method not in SEND_METHODS:
                continue
            chat = int(call.params.get("chat_id", 0))
            content = _content(call.params, call.files)
            self._sends[(chat, call.method, content)] += 1
            if call.method == "sendMessage":
                self._first_message.setdefault(chat, call.at)
                number = round_of(str(call.params.get("text", "")))
                if number is not None and chat != STAFF_CHAT:
                    self._texts.setdefault(number, {}).setdefault(chat, call.at)
                    self._content_round[content] = number
                    self._latest_round = max(self._latest_round, number)
            elif call.method == "sendVoice" and chat != STAFF_CHAT:
                # A voice note belongs to the latest announcement whose text was out when it first came.
                self._content_round.setdefault(content, self._latest_round)
            if call.method == "sendVoice" and (chat, content) not in self._voices:
                self._voices.add((chat, content))
                self._voice_count[chat] += 1
        self._seen = len(calls)

    def announcement_texts(self, number: int) -> dict[int, float]:
        """Subscriber chat → when its text of round `number` arrived first."""
        self._catch_up()
        return self._texts.get(number, {})

    def first_answer(self, chat: int) -> float | None:
        self._catch_up()
        return self._first_message.get(chat)

    def round_done(self, number: int, villagers: Sequence[int]) -> bool:
        if len(self.announcement_texts(number)) < len(self.subscribers):
            return False
        if any(self._voice_count[chat] < number for chat in self.subscribers):
            return False
        return all(self.first_answer(chat) is not None for chat in villagers)

    def figures(self, rounds: Sequence[Round]) -> dict[str, Any]:
        self._catch_up()
        subscribers = set(self.subscribers)
        villagers = {chat for round_ in rounds for chat in round_.villagers}
        lost_texts = sum(len(subscribers - set(self.announcement_texts(round_.number))) for round_ in rounds)
        lost_voices = sum(max(0, len(rounds) - self._voice_count[chat]) for chat in subscribers)
        unanswered = sorted(chat for chat in villagers if self.first_answer(chat) is None)
        doubled = {key: count - 1 for key, count in self._sends.items() if count > 1 and key[0] != STAFF_CHAT}
        by_round: Counter[int] = Counter()
        detail = []
        for (chat, method, content), repeats in doubled.items():
            number = (self._content_round.get(content, 0) if chat < VILLAGER_BASE
                      else (chat - VILLAGER_BASE) // 1000)
            by_round[number] += repeats
            times = f" ×{repeats + 1}" if repeats > 1 else ""
            detail.append((number, chat, f"round {number} chat {chat} {method}{times}"))
        return {"lost_texts": lost_texts, "lost_voices": lost_voices, "unanswered": len(unanswered),
                "doubled": sum(doubled.values()), "doubled_by_round": dict(sorted(by_round.items())),
                "doubled_detail": [text for _number, _chat, text in sorted(detail)][:20],
                "subscriber_chats": len(subscribers), "villager_chats": len(villagers)}


def _content(params: dict[str, Any], files: dict[str, bytes]) -> str:
    blob = b"".join(files[name] for name in sorted(files)) if files else str(params.get("text", "")).encode()
    return hashlib.sha256(blob).hexdigest()


# ------------------------------------------------------------------------------------------ database
async def add_subscribers(database_url: str, count: int) -> None:
    from backends.loudspeaker.store import AnnouncementSubscription
    from core.db import Database
    from core.models import User

    database = Database(database_url, pool_size=2)
    try:
        async with database.session() as session:
            users = [User(channel="telegram", external_id=str(SUBSCRIBER_BASE + n), language="vi")
                     for n in range(count)]
            session.add_all(users)
            await session.flush()
            session.add_all(AnnouncementSubscription(user_id=user.id, hamlets=[], topics=[TOPIC], active=True)
                            for user in users)
    finally:
        await database.close()


async def end_state(database_url: str) -> dict[str, dict[str, int]]:
    from sqlalchemy import func, select

    from bots.telegram.inbox import TelegramUpdate
    from core.db import Database
    from core.models import OutboxMessage

    database = Database(database_url, pool_size=2)
    try:
        async with database.session() as session:
            outbox = {str(status): int(count) for status, count in (await session.execute(
                select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))).all()}
            inbox = {str(status): int(count) for status, count in (await session.execute(
                select(TelegramUpdate.status, func.count()).group_by(TelegramUpdate.status))).all()}
    finally:
        await database.close()
    return {"outbox": outbox, "inbox": inbox}


async def settled(database_url: str, timeout: float) -> dict[str, dict[str, int]]:  # noqa: ASYNC109
    """The end state once no outbox row and no inbox event is left unfinished (or when time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        state = await end_state(database_url)
        unfinished = (state["outbox"].get("pending", 0) + state["outbox"].get("sending", 0)
                      + state["inbox"].get("pending", 0) + state["inbox"].get("processing", 0))
        if not unfinished or time.monotonic() > deadline:
            return state
        await asyncio.sleep(0.5)


async def held_rows(database: Any) -> set[tuple[str, int, Any]]:
    """The outbox rows and inbox events under a lease now, with the lease's end."""
    from sqlalchemy import select

    from bots.telegram.inbox import TelegramUpdate
    from core.models import OutboxMessage

    async with database.session() as session:
        outbox = (await session.execute(select(OutboxMessage.id, OutboxMessage.next_attempt_at)
                                        .where(OutboxMessage.status == "sending"))).all()
        inbox = (await session.execute(select(TelegramUpdate.id, TelegramUpdate.next_attempt_at)
                                       .where(TelegramUpdate.status == "processing"))).all()
    return {("outbox", row_id, until) for row_id, until in outbox} | {
        ("inbox", row_id, until) for row_id, until in inbox}


def cluster_restart_command(database_url: str) -> list[str] | None:
    """`pg_ctlcluster VERSION NAME restart` for the local cluster serving the database's port."""
    from sqlalchemy.engine import make_url

    port = make_url(database_url).port or 5432
    try:
        listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in listing.splitlines():
        version, name, cluster_port, *_rest = [*line.split(), "", "", ""]
        if cluster_port == str(port):
            return ["pg_ctlcluster", version, name, "restart"]
    return None


async def other_clients(database_url: str) -> list[str]:
    """Databases of the cluster, other than ours, that have clients now."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from core.db import Database

    ours = make_url(database_url).database
    database = Database(database_url, pool_size=1)
    try:
        async with database.session() as session:
            rows = await session.execute(text(
                "SELECT DISTINCT datname FROM pg_stat_activity WHERE backend_type = 'client backend'"
                " AND datname IS NOT NULL AND datname <> :ours AND pid <> pg_backend_pid()"), {"ours": ours})
            return sorted(str(name) for name in rows.scalars())
    finally:
        await database.close()


# -------------------------------------------------------------------------------------------- phases
@dataclass
class Run:
    options: argparse.Namespace
    fake: FaultFake
    nodes: list[Node]
    ledger: Ledger
    client: aiohttp.ClientSession
    rng: random.Random
    rounds: list[Round] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)
    database: Any = None  # the benchmark's own connection, for the takeover figures
    restarting: asyncio.Task[float] | None = None
    restarts: list[float] = field(default_factory=list)  # seconds each restart of the victim took
    pg: dict[str, Any] = field(default_factory=dict)  # the PostgreSQL restart's figures

    async def restarted(self) -> None:
        """Waits for the victim's restart, if one is under way."""
        if self.restarting is not None:
            self.restarts.append(await self.restarting)
            self.restarting = None

    async def fanout_begun(self, number: int) -> float:
        """When the first subscriber got announcement `number` (the fake is polled)."""
        deadline = time.monotonic() + STEP_TIMEOUT
        texts = self.ledger.announcement_texts(number)
        while not texts:
            if time.monotonic() > deadline:
                staff = [params.get("text", "")[:200] for _index, params in self.fake.texts_to(STAFF_CHAT)]
                others = [call.params.get("text", "")[:200] for call in self.fake.calls[-3:]]
                raise RuntimeError(f"announcement {number} never reached a subscriber; the staff member "
                                   f"saw {staff[-3:]}; last sends {others}")
            await asyncio.sleep(0.02)
            texts = self.ledger.announcement_texts(number)
        return min(texts.values())

    async def villagers_write(self, node: Node, number: int) -> list[int]:
        """`--updates` villagers of this round write to `node`; all must be answered 200."""
        chats = [VILLAGER_BASE + number * 1000 + n for n in range(self.options.updates)]
        statuses = await asyncio.gather(*(post(self.client, node, message_update(chat, "xin chào"))
                                          for chat in chats))
        if any(status != 200 for status in statuses):
            raise RuntimeError(f"{node.name} refused villagers' updates: {Counter(statuses)}")
        return chats

    async def until_done(self, round_: Round) -> None:
        deadline = time.monotonic() + ROUND_TIMEOUT
        while not self.ledger.round_done(round_.number, round_.villagers):
            if time.monotonic() > deadline:
                log(f"round {round_.number}: not complete after {ROUND_TIMEOUT:.0f} s")
                return
            await asyncio.sleep(0.1)
        round_.complete_after_fault = time.monotonic() - round_.fault_at
        for chat in round_.villagers:
            answered = self.ledger.first_answer(chat)
            if answered is not None and answered > round_.fault_at:
                round_.answered_after_fault.append(answered - round_.fault_at)

    async def kill_round(self, number: int) -> Round:
        """The staff member announces through the survivor; once the fan-out has begun (and the victim is
        back from the previous round's kill), villagers write to the victim, which is killed soon after,
        then started again while the survivor takes its work over."""
        victim, survivor = self.nodes
        round_ = Round(number, "kill")
        await announce(self.client, self.fake, survivor, number)
        begun = await self.fanout_begun(number)
        await self.restarted()
        fanout = self.options.subscribers / (len(self.nodes) * self.options.rate)
        await asyncio.sleep(self.rng.uniform(0.0, max(0.2, 0.7 * fanout - (time.monotonic() - begun))))
        round_.villagers = await self.villagers_write(victim, number)
        await asyncio.sleep(self.rng.uniform(0.0, 0.3))
        victim.kill()
        round_.fault_at = time.monotonic()
        round_.fault_after_fanout = round_.fault_at - begun
        await victim.wait_dead()
        self.restarting = asyncio.create_task(victim.start(self.fake))
        takeover = asyncio.create_task(self.taken_over(round_))
        await self.until_done(round_)
        await takeover
        return round_

    async def taken_over(self, round_: Round) -> None:
        """Until everything under a lease at the fault was finished or leased anew: the dead node's part
        waits for its lease to run out and for the survivor to claim it."""
        held = await held_rows(self.database)
        round_.held_at_fault = len(held)
        deadline = time.monotonic() + ROUND_TIMEOUT
        while held & await held_rows(self.database):
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.1)
        round_.taken_over_after = time.monotonic() - round_.fault_at

    async def pg_restart_round(self, number: int, command: list[str]) -> Round:
        round_ = Round(number, "pg-restart")
        await announce(self.client, self.fake, self.nodes[0], number)
        begun = await self.fanout_begun(number)
        statuses: Counter[str] = Counter()
        stop = asyncio.Event()
        acknowledged: list[int] = []
        chats = itertools.count(VILLAGER_BASE + number * 1000)

        async def villager(node: Node) -> None:
            """Writes every 0.1 s; a refused update is posted again until it is taken (as Telegram does)."""
            while not stop.is_set():
                chat = next(chats)
                update = message_update(chat, "xin chào")
                deadline = time.monotonic() + 60
                status = await post(self.client, node, update)
                while status != 200 and time.monotonic() < deadline:
                    statuses[f"webhook {status or 'no answer'}"] += 1
                    await asyncio.sleep(0.5)
                    status = await post(self.client, node, update)
                statuses[f"webhook {status}"] += 1
                if status == 200:
                    acknowledged.append(chat)
                await asyncio.sleep(0.1)

        async def web_chat(node: Node) -> None:
            while not stop.is_set():
                try:
                    async with self.client.post(f"{node.base_url}/api/chat/sessions", json={}) as response:
                        body = await response.read()
                        polite = response.status == 200 or b'"error"' in body
                        statuses[f"web chat {response.status}{'' if polite else ' (not JSON)'}"] += 1
                except (aiohttp.ClientError, TimeoutError):
                    statuses["web chat no answer"] += 1
                await asyncio.sleep(0.2)

        load = [asyncio.create_task(villager(node)) for node in self.nodes]
        load += [asyncio.create_task(web_chat(node)) for node in self.nodes]
        await asyncio.sleep(self.rng.uniform(0.2, 1.0))
        busy = [] if self.options.pg_restart_anyway else await other_clients(self.options.database_url)
        if busy:  # checked again right before: someone may have started using the cluster meanwhile
            stop.set()
            await asyncio.gather(*load)
            raise RuntimeError(f"PostgreSQL not restarted: other databases of the cluster have clients "
                               f"now ({busy})")
        round_.fault_at = time.monotonic()
        round_.fault_after_fanout = round_.fault_at - begun
        restarted = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.DEVNULL,
                                                         stderr=asyncio.subprocess.PIPE)
        _out, err = await restarted.communicate()
        round_.restart_seconds = time.monotonic() - round_.fault_at
        if restarted.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {err.decode(errors='replace')[:300]}")
        await asyncio.sleep(3.0)  # load goes on after the restart
        stop.set()
        await asyncio.gather(*load)
        round_.villagers = acknowledged
        await self.until_done(round_)
        crashed = [node.name for node in self.nodes if not node.alive]
        healthy = []
        for node in self.nodes:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.client.get(f"{node.base_url}/healthz") as response:
                    if response.status == 200:
                        healthy.append(node.name)
        self.pg = {"command": " ".join(command), "seconds": round(round_.restart_seconds, 2),
                   "responses": dict(sorted(statuses.items())), "crashed": crashed,
                   "healthy_after": healthy, "acknowledged_updates": len(acknowledged)}
        return round_


# ---------------------------------------------------------------------------------------------- main
def settings_figures(options: argparse.Namespace) -> dict[str, Any]:
    from core.config import Settings
    from core.outbox import IN_FLIGHT_PER_SENDER

    fields = Settings.model_fields
    lease = options.lease if options.lease is not None else float(fields["lease_seconds"].default)
    senders = 1  # the nodes send to Telegram only (the web chat's sender writes to the database)
    nodes = 2
    pg_restarts = 1 if options.pg_restart else 0
    bound = (options.kills + pg_restarts * nodes) * senders * IN_FLIGHT_PER_SENDER
    return {"lease_seconds": lease, "renewed_every_seconds": round(lease / 3, 2),
            "in_flight_per_sender": IN_FLIGHT_PER_SENDER, "senders_per_node": senders, "nodes": nodes,
            "telegram_global_rate": options.rate,
            "telegram_per_chat_rate": float(fields["telegram_per_chat_rate"].default),
            "in_flight_bound": bound,
            "bound_formula": (f"kills {options.kills} × senders {senders} × {IN_FLIGHT_PER_SENDER} in flight"
                              + (f" + restarts {pg_restarts} × nodes {nodes} × senders {senders} × "
                                 f"{IN_FLIGHT_PER_SENDER}" if pg_restarts else ""))}


async def run(options: argparse.Namespace) -> dict[str, Any]:
    from core.db import Database

    started = time.monotonic()
    check_loopback(options.database_url)
    command = None
    if options.pg_restart:
        command = options.pg_restart_command.split() if options.pg_restart_command else (
            cluster_restart_command(options.database_url))
        if command is None:
            raise SystemExit("--pg-restart: no local cluster serves that port (pg_lsclusters); "
                             "give --pg-restart-command")
    await reset_postgres(options.database_url)
    if command is not None and not options.pg_restart_anyway:
        busy = await other_clients(options.database_url)
        if busy:
            raise SystemExit(f"--pg-restart refused: other databases of the cluster have clients ({busy}); "
                             "restarting would break their work (--pg-restart-anyway to insist)")
    settings = settings_figures(options)
    log(f"settings: lease {settings['lease_seconds']:g} s (renewed every "
        f"{settings['renewed_every_seconds']:g} s), in-flight bound {settings['in_flight_bound']} = "
        f"{settings['bound_formula']}")
    fake = await FaultFake(send_delay=options.send_delay).start()
    secret_key = secrets.token_urlsafe(32)
    nodes: list[Node] = []
    result: dict[str, Any] = {"settings": settings}
    try:
        with tempfile.TemporaryDirectory(prefix="xaso-faults-") as temp:
            workdir = Path(temp)
            env = node_environment(options.database_url, fake, workdir, secret_key, options.lease,
                                   options.rate)
            nodes = [Node(name, free_port(), env, workdir) for name in ("node-a", "node-b")]
            timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT)
            async with aiohttp.ClientSession(timeout=timeout) as client:
                faults = Run(options, fake, nodes, Ledger(fake, options.subscribers), client,
                             random.Random(options.seed),
                             database=Database(options.database_url, pool_size=2))
                try:
                    result |= await phases(faults, workdir, env, command, started)
                finally:
                    await faults.database.close()
            for node in nodes:
                await node.stop()
            result["server_errors"] = sum(len(node.errors()) for node in nodes)
            if options.logs is not None:
                await asyncio.to_thread(copy_logs, workdir, options.logs)
            for node in nodes:
                for line in node.errors()[:3]:
                    log(f"{node.name}: {line[:240]}")
    finally:
        for node in nodes:
            node.kill()
        await fake.close()
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


async def phases(faults: Run, workdir: Path, env: dict[str, str], command: list[str] | None,
                 started: float) -> dict[str, Any]:
    options = faults.options
    xaso = server_command(0, None)[0]

    def prepare(*arguments: str) -> Any:
        return asyncio.to_thread(subprocess.run, [xaso, *arguments], cwd=workdir, env=env,
                                 capture_output=True, check=True)

    # The signing keys (announcements are signed), the NLU model and the schema, once for both nodes.
    await asyncio.gather(prepare("keys", "init"), prepare("nlu", "train"), prepare("db", "upgrade"))
    connections = len(faults.fake.sent("getMe")) + len(faults.nodes)
    starting = (node.start(faults.fake, connections) for node in faults.nodes)
    faults.starts = list(await asyncio.gather(*starting))
    log(f"nodes up in {', '.join(f'{seconds:.1f}' for seconds in faults.starts)} s")
    code = (await prepare("invite", "staff")).stdout.decode().split()[-1]
    await staff_step(faults.client, faults.fake, faults.nodes[0],
                     message_update(STAFF_CHAT, f"/join {code}"), None)
    await add_subscribers(options.database_url, options.subscribers)
    for number in range(1, options.kills + 1):
        round_ = await faults.kill_round(number)
        faults.rounds.append(round_)
        worst = max(round_.answered_after_fault, default=0.0)
        log(f"round {number}: killed {round_.fault_after_fanout:.2f} s into the fan-out; its "
            f"{round_.held_at_fault} leased rows taken over {_seconds(round_.taken_over_after)} after the "
            f"kill; villagers answered ≤ {worst:.1f} s and the broadcast complete "
            f"{_seconds(round_.complete_after_fault)} after it")
    await faults.restarted()
    if command is not None:
        round_ = await faults.pg_restart_round(options.kills + 1, command)
        faults.rounds.append(round_)
        log(f"PostgreSQL restarted in {round_.restart_seconds:.1f} s; {faults.pg['responses']}")
    state = await settled(options.database_url, timeout=30.0)
    await asyncio.sleep(1.0)  # a late repeat would show now
    figures = faults.ledger.figures(faults.rounds)
    kills = [round_ for round_ in faults.rounds if round_.kind == "kill"]
    after = [seconds for round_ in kills for seconds in round_.answered_after_fault]
    return {
        "rounds": len(faults.rounds), "kills": len(kills),
        "broadcast_parts": len(faults.rounds) * options.subscribers * 2, **figures,
        "unfinished": {name: {status: count for status, count in counts.items()
                              if status not in ("sent", "done")} for name, counts in state.items()},
        "worst_takeover_seconds": round(max((round_.taken_over_after or float("inf") for round_ in kills),
                                            default=0.0), 2),
        "worst_answer_after_kill_seconds": round(max(after, default=0.0), 2),
        "villagers_answered_after_kill": len(after),
        "worst_broadcast_complete_after_kill_seconds": round(max(
            (round_.complete_after_fault or float("inf") for round_ in kills), default=0.0), 2),
        "node_restart_seconds": round(max(faults.restarts, default=0.0), 1),
        "pg_restart": faults.pg or None,
        "elapsed_before_shutdown": round(time.monotonic() - started, 1),
    }


def copy_logs(workdir: Path, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for path in workdir.glob("*.log"):
        shutil.copy(path, folder / path.name)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.1f} s"


def verdict(result: dict[str, Any], options: argparse.Namespace) -> list[str]:
    problems = []
    if result["lost_texts"] or result["lost_voices"]:
        problems.append(f"lost: {result['lost_texts']} texts, {result['lost_voices']} voice notes")
    if result["unanswered"]:
        problems.append(f"{result['unanswered']} villagers never answered")
    settings = result["settings"]
    if result["doubled"] > settings["in_flight_bound"]:
        problems.append(f"doubled {result['doubled']} > bound {settings['in_flight_bound']}")
    per_kill = settings["senders_per_node"] * settings["in_flight_per_sender"]
    for number, doubled in result["doubled_by_round"].items():
        bound = per_kill if number <= options.kills else per_kill * settings["nodes"]
        if doubled > bound:
            problems.append(f"round {number}: doubled {doubled} > {bound} in flight")
    leftovers = {name: counts for name, counts in result["unfinished"].items() if counts}
    if leftovers:
        problems.append(f"not done at the end: {leftovers}")
    pg = result.get("pg_restart")
    if pg and (pg["crashed"] or len(pg["healthy_after"]) < 2):
        problems.append(f"after the PostgreSQL restart: crashed {pg['crashed']}, "
                        f"healthy {pg['healthy_after']}")
    if pg and any("no answer" in kind or "not JSON" in kind for kind in pg["responses"]):
        problems.append(f"impolite answers while PostgreSQL was away: {pg['responses']}")
    if result["seconds"] > options.budget:
        problems.append(f"took {result['seconds']:.0f} s, over the budget of {options.budget:.0f} s")
    return problems


def table(result: dict[str, Any]) -> str:
    settings = result["settings"]
    lines = [
        f"rounds {result['rounds']} (kills {result['kills']}), subscribers {result['subscriber_chats']}, "
        f"announcement parts {result['broadcast_parts']}, villagers {result['villager_chats']}",
        f"lease {settings['lease_seconds']:g} s, renewed every {settings['renewed_every_seconds']:g} s",
        f"lost                 {result['lost_texts'] + result['lost_voices']} "
        f"(texts {result['lost_texts']}, voice notes {result['lost_voices']}), "
        f"unanswered villagers {result['unanswered']}",
        f"doubled              {result['doubled']} (bound {settings['in_flight_bound']}: "
        f"{settings['bound_formula']})",
        f"worst takeover after a kill   {result['worst_takeover_seconds']:.1f} s (every leased row "
        f"finished or leased anew)",
        f"worst answer after a kill     {result['worst_answer_after_kill_seconds']:.1f} s "
        f"({result['villagers_answered_after_kill']} villagers answered after the kill; their answers "
        f"queue behind the broadcast)",
        f"worst broadcast end after a kill {result['worst_broadcast_complete_after_kill_seconds']:.1f} s",
        f"node restart (worst)          {result['node_restart_seconds']:.1f} s",
        f"unfinished at the end         {result['unfinished']}",
    ]
    if result["doubled_detail"]:
        lines.append(f"doubled parts                 {', '.join(result['doubled_detail'])}")
    if result.get("pg_restart"):
        pg = result["pg_restart"]
        lines.append(f"PostgreSQL restart ({pg['command']}) {pg['seconds']:.1f} s: {pg['responses']}, "
                     f"crashed {pg['crashed'] or 'none'}, healthy after {pg['healthy_after']}")
    lines.append(f"server errors logged {result['server_errors']}; run time {result['seconds']:.0f} s")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=DESCRIPTION)
    parser.add_argument("--database-url", default=DEFAULT_URL,
                        help="PostgreSQL on this machine (its public schema is dropped!); "
                             "default %(default)s")
    parser.add_argument("--kills", type=int, default=10, help="rounds, one SIGKILL each")
    parser.add_argument("--subscribers", type=int, default=200, help="subscribers of every announcement")
    parser.add_argument("--updates", type=int, default=20, help="villagers writing to the doomed node")
    parser.add_argument("--rate", type=float, default=30.0,
                        help="XASO_TELEGRAM_GLOBAL_RATE of each node, messages/s (Telegram's own: 30)")
    parser.add_argument("--send-delay", type=float, default=0.02, help="the fake's answer delay per send")
    parser.add_argument("--lease", type=float, default=None,
                        help="XASO_LEASE_SECONDS for the nodes (default: the setting's default)")
    parser.add_argument("--quick", action="store_true", help="3 kills, 100 subscribers")
    parser.add_argument("--pg-restart", action="store_true",
                        help="also restart PostgreSQL under load (needs root or postgres)")
    parser.add_argument("--pg-restart-command", default=None, help="instead of pg_ctlcluster … restart")
    parser.add_argument("--pg-restart-anyway", action="store_true",
                        help="restart even when other databases of the cluster have clients")
    parser.add_argument("--budget", type=float, default=240.0, help="seconds the whole run may take")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--logs", type=Path, default=None, help="keep the nodes' logs in this folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    options = parser.parse_args(argv)
    if options.quick:
        options.kills, options.subscribers = 3, 100
    if options.kills < 1 or options.subscribers < 1 or options.updates < 1:
        parser.error("--kills, --subscribers and --updates must be positive")
    if options.seed is None:
        options.seed = random.SystemRandom().randrange(1 << 30)
    return options


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    # A killed node drops its connections to the fake mid-answer: expected, not worth a traceback.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    log(f"seed {options.seed}")
    try:
        result = asyncio.run(run(options))
    except RuntimeError as problem:  # a step that could not go on: nodes and fake are stopped
        print(f"FAILED: {problem}")
        return 1
    problems = verdict(result, options)
    result["failures"] = problems
    if options.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(table(result))
        print("FAILED: " + "; ".join(problems) if problems else "OK")
    return 1 if problems else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
