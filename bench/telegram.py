"""Telegram benchmark: a real `xaso serve` talking to the fake Bot API of tests/support, run in this process.

For each backend, two phases, each with its own `xaso serve` (fresh temporary working directory; the
PostgreSQL `public` schema dropped and recreated first), pointed at the fake with
XASO_TELEGRAM_API_BASE and a webhook secret:

1. webhook: N private chats each post an Update to /telegram/webhook and wait until the reply reaches the
   fake's sendMessage, then post the next (closed loop), for a fixed time after a warm-up. Reports
   updates/s and the p50/p99 of webhook → sendMessage latency. Per-chat and global send pacing are off
   here (the fake enforces no limit), so the figure is the server's, not Telegram's.
2. broadcast: M outbox rows to M distinct chats are enqueued straight into the database, then the real
   sender drains them against a fake that refuses (429, retry_after 1) any send beyond L per sliding
   second; the sender's global rate is set to L. Reports the achieved rate, 429s after the first second,
   and any message lost or delivered twice. Run for each limit given. (A real announcement, fanned out
   to many subscribers and drained by one or two nodes, text and voice note: bench/broadcast.py.)

All traffic goes to 127.0.0.1; every phase is bounded in time, and the server is stopped in all cases.

    .venv/bin/python -m bench.telegram                      # SQLite
    .venv/bin/python -m bench.telegram --backend both \\
        --database-url postgresql+asyncpg://xaso:xaso@127.0.0.1:5432/xaso_bench_tg --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench.webchat import (
    Server,
    backends,
    cancel_on_signals,
    log,
    logged_errors,
    percentile,
    reset_postgres,
    server_environment,
)
from bench.webchat import running_server as serve
from tests.support.fake_telegram import TOKEN, FakeTelegram

DESCRIPTION = ("Telegram benchmark: webhook updates/s to the reply, and a paced broadcast, "
               "against a fake Bot API.")
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://xaso:xaso@127.0.0.1:5432/xaso_bench_tg"
SECRET = "bench-webhook-secret"  # noqa: S105 (a throwaway secret for a loopback fake)
WEBHOOK_TIMEOUT = 10.0
READY_TIMEOUT = 60.0
BROADCAST_CHAT_BASE = 500_000_000
TEXTS = ("xin chào", "/help", "cảm ơn", "Chào xã ạ")  # each answered with one message


# ----------------------------------------------------------------------------------------- the fake
@dataclass
class Delivery:
    chat_id: int
    text: str
    at: float


class BenchFake(FakeTelegram):
    """The tests' fake, plus what the benchmark measures: per-chat arrival signals and 429 times."""

    def __init__(self, global_limit: float | None = None) -> None:
        super().__init__(global_limit=global_limit)
        self.deliveries: list[Delivery] = []
        self.rejections: list[float] = []
        self._waiters: dict[int, asyncio.Future[float]] = {}

    def expect(self, chat_id: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters[chat_id] = future
        return future

    def _over_global_limit(self, now: float) -> bool:
        over = super()._over_global_limit(now)
        if over:
            self.rejections.append(now)
        return over

    async def _m_sendMessage(self, params: dict[str, Any], files: dict[str, bytes]) -> Any:
        result = await super()._m_sendMessage(params, files)
        now = time.monotonic()
        chat_id = int(params["chat_id"])
        self.deliveries.append(Delivery(chat_id, params.get("text", ""), now))
        waiter = self._waiters.pop(chat_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(now)
        return result


# ------------------------------------------------------------------------------------------ server
def environment(database_url: str, fake: FakeTelegram, per_chat: str, global_rate: str) -> dict[str, str]:
    env = server_environment(database_url)
    env.update({
        "XASO_TELEGRAM_TOKEN": TOKEN, "XASO_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "XASO_TELEGRAM_API_BASE": fake.api_base, "XASO_TELEGRAM_PER_CHAT_RATE": per_chat,
        "XASO_TELEGRAM_GROUP_PER_MINUTE": "20", "XASO_TELEGRAM_GLOBAL_RATE": global_rate,
        "XASO_LOAD_DEMO_DATA": "false",
    })
    return env


@contextlib.asynccontextmanager
async def running_server(env: dict[str, str], workdir: Path, fake: FakeTelegram) -> AsyncIterator[Server]:
    """`xaso serve` as a child process, healthy and connected to the fake on entry, stopped on exit."""
    async with serve(env, workdir) as server:
        async with asyncio.timeout(READY_TIMEOUT):
            while True:
                if fake.sent("getMe"):
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)  # getMe answered → the channel starts its inbox processor
        yield server


@contextlib.asynccontextmanager
async def fresh_server(name: str, database_url: str | None, fake: FakeTelegram, per_chat: str,
                       global_rate: str) -> AsyncIterator[tuple[Server, str]]:
    with tempfile.TemporaryDirectory(prefix=f"xaso-bench-tg-{name}-") as temp:
        workdir = Path(temp)
        url = database_url or f"sqlite+aiosqlite:///{workdir / 'xaso.db'}"
        if database_url is not None:
            await reset_postgres(database_url)
        async with running_server(environment(url, fake, per_chat, global_rate), workdir, fake) as server:
            yield server, url


# ------------------------------------------------------------------------------------------ phases
@dataclass
class WebhookRun:
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


def update_json(update_id: int, chat_id: int, text: str) -> bytes:
    return json.dumps({"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": text,
        "from": {"id": chat_id, "is_bot": False, "first_name": "Bench", "language_code": "vi"},
        "chat": {"id": chat_id, "type": "private", "first_name": "Bench"}}}, ensure_ascii=False).encode()


async def webhook_phase(name: str, database_url: str | None, options: argparse.Namespace) -> dict[str, Any]:
    fake = await BenchFake().start()
    try:
        async with fresh_server(f"{name}-webhook", database_url, fake, "inf", "inf") as (server, _url):
            log(f"[{name}] webhook: {options.chats} chats, {options.warmup:g} s warm-up + "
                f"{options.duration:g} s")
            result = await webhook_load(server, fake, options)
        result["server_log_errors"] = logged_errors(server)
        return result
    finally:
        await fake.close()


async def webhook_load(server: Server, fake: BenchFake, options: argparse.Namespace) -> dict[str, Any]:
    url = f"{server.base_url}/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET, "Content-Type": "application/json"}
    update_ids = itertools.count(1)
    run = WebhookRun()
    window_start = time.monotonic() + options.warmup
    window_end = window_start + options.duration
    updates_sent = 0

    async def chat_loop(client: aiohttp.ClientSession, chat_id: int) -> None:
        nonlocal updates_sent
        for number in itertools.count():
            if (started := time.monotonic()) >= window_end:
                return
            arrived = fake.expect(chat_id)
            body = update_json(next(update_ids), chat_id, TEXTS[number % len(TEXTS)])
            updates_sent += 1
            try:
                async with client.post(url, data=body, headers=headers) as response:
                    status = response.status
                at = await asyncio.wait_for(arrived, WEBHOOK_TIMEOUT) if status == 200 else None
            except (TimeoutError, aiohttp.ClientError) as problem:
                run.errors[type(problem).__name__] += 1
                continue
            if at is None:
                run.errors[str(status)] += 1
            elif window_start <= at <= window_end:
                run.latencies.append(at - started)

    timeout = aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=options.chats + 8)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as client:
        await asyncio.gather(*(chat_loop(client, 100_000 + chat) for chat in range(options.chats)))
    await asyncio.sleep(0.5)
    ordered = sorted(run.latencies)
    return {
        "phase": "webhook", "chats": options.chats, "seconds": options.duration,
        "updates": len(ordered), "updates_per_second": round(len(ordered) / options.duration, 1),
        "p50_ms": round(percentile(ordered, 0.5) * 1000, 1),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 1),
        "max_ms": round((ordered[-1] if ordered else 0.0) * 1000, 1),
        "errors": sum(run.errors.values()), "error_kinds": dict(run.errors),
        "replies_per_update": round(len(fake.sent("sendMessage")) / max(updates_sent, 1), 3),
    }


async def enqueue_broadcast(database_url: str, count: int) -> None:
    from core.db import Database
    from core.messages import Reply
    from core.outbox import Outbox

    database = Database(database_url)
    outbox = Outbox(database)
    try:
        async with database.session() as session:
            for number in range(count):
                await outbox.enqueue(session, channel="telegram", chat_id=str(BROADCAST_CHAT_BASE + number),
                                     reply=Reply(f"Thông báo của xã #{number}"),
                                     key=f"bench:broadcast:{number}")
    finally:
        await database.close()


async def outbox_counts(database_url: str) -> dict[str, int]:
    from core.db import Database
    from core.outbox import Outbox

    database = Database(database_url)
    try:
        return await Outbox(database).stats()
    finally:
        await database.close()


async def broadcast_phase(name: str, database_url: str | None, limit: float,
                          options: argparse.Namespace) -> dict[str, Any]:
    fake = await BenchFake(global_limit=limit).start()
    count = options.messages
    try:
        async with fresh_server(f"{name}-broadcast", database_url, fake, "1", f"{limit:g}") as (server, url):
            log(f"[{name}] broadcast: {count} messages, limit {limit:g}/s")
            await enqueue_broadcast(url, count)
            deadline = count / limit * 1.5 + 30.0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(deadline):
                    while True:
                        if len(fake.deliveries) >= count:
                            break
                        await asyncio.sleep(0.2)
            await asyncio.sleep(1.5)  # anything sent twice would show now
            states = await outbox_counts(url)
        errors = logged_errors(server)
    finally:
        await fake.close()
    return broadcast_figures(fake, limit, count, options.warmup_429, states) | {"server_log_errors": errors}


def broadcast_figures(fake: BenchFake, limit: float, count: int, warmup: float,
                      states: dict[str, int]) -> dict[str, Any]:
    deliveries = sorted(fake.deliveries, key=lambda delivery: delivery.at)
    per_chat = Counter(delivery.chat_id for delivery in deliveries)
    expected = {BROADCAST_CHAT_BASE + number for number in range(count)}
    first, last = (deliveries[0].at, deliveries[-1].at) if deliveries else (0.0, 0.0)
    rate = (len(deliveries) - 1) / (last - first) if last > first else 0.0
    return {
        "phase": "broadcast", "limit_per_second": limit, "messages": count, "delivered": len(deliveries),
        "seconds": round(last - first, 2), "achieved_per_second": round(rate, 1),
        "within_10_percent": abs(rate - limit) <= 0.1 * limit,
        "rejected_429_total": len(fake.rejections),
        "rejected_429_after_warmup": sum(1 for at in fake.rejections if at > first + warmup),
        "lost": len(expected - set(per_chat)), "doubled": sum(1 for n in per_chat.values() if n > 1),
        "outbox": states,
    }


async def run_backend(name: str, database_url: str | None, options: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"backend": name}
    if not options.skip_webhook:
        result["webhook"] = await webhook_phase(name, database_url, options)
    result["broadcasts"] = [await broadcast_phase(name, database_url, limit, options)
                            for limit in options.limits]
    return result


# ------------------------------------------------------------------------------------------ output
def table(results: Sequence[dict[str, Any]]) -> str:
    lines = [f"{'backend':<11}{'chats':>6}{'updates/s':>11}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
             f"{'errors':>7}"]
    for result in results:
        hook = result.get("webhook")
        if hook:
            lines.append(f"{result['backend']:<11}{hook['chats']:>6}{hook['updates_per_second']:>11.1f}"
                         f"{hook['p50_ms']:>8.1f}{hook['p99_ms']:>8.1f}{hook['max_ms']:>8.1f}{hook['errors']:>7}")
    lines.append("")
    lines.append(f"{'backend':<11}{'limit/s':>8}{'msgs':>6}{'achieved/s':>11}{'±10%':>6}{'429 all':>8}"
                 f"{'429 late':>9}{'lost':>6}{'double':>7}")
    for result in results:
        for cast in result["broadcasts"]:
            lines.append(f"{result['backend']:<11}{cast['limit_per_second']:>8g}{cast['messages']:>6}"
                         f"{cast['achieved_per_second']:>11.1f}"
                         f"{'yes' if cast['within_10_percent'] else 'NO':>6}"
                         f"{cast['rejected_429_total']:>8}{cast['rejected_429_after_warmup']:>9}"
                         f"{cast['lost']:>6}{cast['doubled']:>7}")
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.telegram", description=DESCRIPTION)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES_URL,
                        help="PostgreSQL URL (its public schema is dropped!); default %(default)s")
    parser.add_argument("--chats", type=int, default=50, help="private chats in the webhook phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the webhook window")
    parser.add_argument("--duration", type=float, default=15.0, help="webhook window, seconds")
    parser.add_argument("--messages", type=int, default=2000, help="broadcast size")
    parser.add_argument("--limits", type=float, nargs="+", default=[30.0, 200.0],
                        help="global limits (messages/s) of the fake, one broadcast each")
    parser.add_argument("--warmup-429", type=float, default=1.0,
                        help="seconds after the first delivery in which 429s count as warm-up")
    parser.add_argument("--skip-webhook", action="store_true", help="only the broadcasts")
    parser.add_argument("--json", action="store_true", help="print one JSON object with all figures")
    options = parser.parse_args(argv)
    if options.chats < 1 or options.duration <= 0 or options.messages < 2 or min(options.limits) <= 0:
        parser.error("--chats, --duration, --messages and --limits must be positive")
    return options


async def run(options: argparse.Namespace) -> list[dict[str, Any]] | None:
    cancel_on_signals(asyncio.current_task())
    try:
        return [await run_backend(name, url, options) for name, url in backends(options)]
    except asyncio.CancelledError:
        log("interrupted: servers stopped")
        return None


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    results = asyncio.run(run(options))
    if results is None:
        return 130
    if options.json:
        config = {key: value for key, value in vars(options).items() if key != "json"}
        config["database_url"] = config["database_url"].split("@")[-1]
        print(json.dumps({"config": config, "cpu_count": os.cpu_count(), "results": results},
                         ensure_ascii=False))
    else:
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
