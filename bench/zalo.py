"""Zalo benchmark: a real `xaso serve` talking to the fake Zalo servers of tests/support, run in this process.

For each backend and mode, one `xaso serve` (fresh temporary working directory; the PostgreSQL `public`
schema dropped and recreated first), pointed at the fake with XASO_ZALO_API_BASE / _OAUTH_BASE /
_BOT_API_BASE:

- oa: N Zalo users each post a signed `user_send_text` event (X-ZEvent-Signature) to /zalo/webhook and
  wait until the whole reply (the OA takes five buttons a message, so the menu is three messages) has
  reached the fake's /v3.0/oa/message/cs, then post the next (closed loop), for a fixed time after a
  warm-up; how many messages each text's reply takes is learnt first from one user;
- bot: the same with Zalo Bot API updates (X-Bot-Api-Secret-Token) to /zalo/bot/webhook, until the
  reply reaches sendMessage.

Reports events/s and the p50/p99 of webhook → reply latency. Send pacing is off (the fake enforces no
limit), so the figure is the server's, not Zalo's. All traffic goes to 127.0.0.1.

    .venv/bin/python -m bench.zalo                      # SQLite, both modes
    .venv/bin/python -m bench.zalo --backend both \\
        --database-url postgresql+asyncpg://xaso:xaso@127.0.0.1:5432/xaso_bench_zalo --json
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
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.webchat import (
    Server,
    backends,
    cancel_on_signals,
    log,
    logged_errors,
    percentile,
    reset_postgres,
    running_server,
    server_environment,
)
from tests.support.fake_zalo import (
    ACCESS_TOKEN,
    APP_ID,
    APP_SECRET,
    BOT_SECRET,
    BOT_TOKEN,
    OA_SECRET,
    REFRESH_TOKEN,
    FakeZalo,
    bot_update,
    signed,
    text_event,
)

DESCRIPTION = "Zalo benchmark: signed webhook events/s to the reply, OA and Bot API, against fake servers."
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://xaso:xaso@127.0.0.1:5432/xaso_bench_zalo"
WEBHOOK_TIMEOUT = 10.0
TEXTS = ("xin chào", "cảm ơn", "Chào xã ạ", "hello")


class BenchFake(FakeZalo):
    """The tests' fake, plus a signal per user once a whole reply (a known number of messages) arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: dict[str, list[float]] = {}
        self._waiters: dict[str, tuple[int, asyncio.Future[float]]] = {}

    def expect(self, user: str, count: int) -> asyncio.Future[float]:
        """Resolves with the time the `count`-th message from now reaches `user`."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters[user] = (len(self.arrivals.get(user, [])) + count, future)
        return future

    def _arrived(self, user: str) -> None:
        now = time.monotonic()
        seen = self.arrivals.setdefault(user, [])
        seen.append(now)
        waiter = self._waiters.get(user)
        if waiter is not None and len(seen) >= waiter[0] and not waiter[1].done():
            del self._waiters[user]
            waiter[1].set_result(now)

    async def _cs(self, request: web.Request) -> web.Response:
        response = await super()._cs(request)
        self._arrived(str(self.calls[-1].user_id))
        return response

    async def _b_sendMessage(self, params: dict[str, Any]) -> Any:
        result = await super()._b_sendMessage(params)
        self._arrived(str(params.get("chat_id")))
        return result


def environment(database_url: str, fake: FakeZalo, mode: str) -> dict[str, str]:
    env = server_environment(database_url)
    env.update({"XASO_LOAD_DEMO_DATA": "false", "XASO_ZALO_PER_CHAT_RATE": "inf",
                "XASO_ZALO_GLOBAL_RATE": "inf"})
    if mode == "oa":
        env.update({"XASO_ZALO_APP_ID": APP_ID, "XASO_ZALO_APP_SECRET": APP_SECRET,
                    "XASO_ZALO_OA_SECRET": OA_SECRET, "XASO_ZALO_ACCESS_TOKEN": ACCESS_TOKEN,
                    "XASO_ZALO_REFRESH_TOKEN": REFRESH_TOKEN, "XASO_ZALO_API_BASE": fake.base,
                    "XASO_ZALO_OAUTH_BASE": fake.base})
    else:
        env.update({"XASO_ZALO_BOT_TOKEN": BOT_TOKEN, "XASO_ZALO_BOT_WEBHOOK_SECRET": BOT_SECRET,
                    "XASO_ZALO_BOT_API_BASE": fake.base, "XASO_ZALO_BOT_MODE": "webhook"})
    return env


@contextlib.asynccontextmanager
async def fresh_server(name: str, database_url: str | None, fake: FakeZalo,
                       mode: str) -> AsyncIterator[Server]:
    with tempfile.TemporaryDirectory(prefix=f"xaso-bench-zalo-{name}-") as temp:
        workdir = Path(temp)
        url = database_url or f"sqlite+aiosqlite:///{workdir / 'xaso.db'}"
        if database_url is not None:
            await reset_postgres(url)
        async with running_server(environment(url, fake, mode), workdir) as server:
            yield server


def request_for(mode: str, user: str, text: str) -> tuple[str, bytes, dict[str, str]]:
    if mode == "oa":
        body, headers = signed(text_event(text, user))
        return "/zalo/webhook", body, headers
    body = json.dumps(bot_update(text, user), ensure_ascii=False).encode()
    headers = {"X-Bot-Api-Secret-Token": BOT_SECRET, "Content-Type": "application/json"}
    return "/zalo/bot/webhook", body, headers


async def reply_sizes(server: Server, fake: BenchFake, mode: str) -> dict[str, int]:
    """How many messages each text's reply takes, learnt from one user before the load (quiet 1 s)."""
    sizes: dict[str, int] = {}
    user = "699999999"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT)) as client:
        for text in TEXTS * 2:  # the second round is what every later message looks like
            before = len(fake.arrivals.get(user, []))
            path, body, headers = request_for(mode, user, text)
            async with client.post(server.base_url + path, data=body, headers=headers) as response:
                assert response.status == 200, response.status
            count = -1
            while count != len(fake.arrivals.get(user, [])):
                count = len(fake.arrivals.get(user, []))
                await asyncio.sleep(1.0)
            sizes[text] = count - before
    return sizes


async def load(server: Server, fake: BenchFake, mode: str, options: argparse.Namespace) -> dict[str, Any]:
    sizes = await reply_sizes(server, fake, mode)
    latencies: list[float] = []
    acks: list[float] = []
    errors: Counter[str] = Counter()
    window_start = time.monotonic() + options.warmup
    window_end = window_start + options.duration
    posted = 0

    async def user_loop(client: aiohttp.ClientSession, user: str) -> None:
        nonlocal posted
        for number in itertools.count():
            if (started := time.monotonic()) >= window_end:
                return
            text = TEXTS[number % len(TEXTS)]
            arrived = fake.expect(user, sizes[text])
            path, body, headers = request_for(mode, user, text)
            posted += 1
            try:
                async with client.post(server.base_url + path, data=body, headers=headers) as response:
                    status = response.status
                if window_start <= started <= window_end:
                    acks.append(time.monotonic() - started)
                at = await asyncio.wait_for(arrived, WEBHOOK_TIMEOUT) if status == 200 else None
            except (TimeoutError, aiohttp.ClientError) as problem:
                errors[type(problem).__name__] += 1
                continue
            if at is None:
                errors[str(status)] += 1
            elif window_start <= at <= window_end:
                latencies.append(at - started)

    connector = aiohttp.TCPConnector(limit=options.users + 8)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT),
                                     connector=connector) as client:
        await asyncio.gather(*(user_loop(client, f"{700_000_000 + n}") for n in range(options.users)))
    await asyncio.sleep(0.5)
    ordered = sorted(latencies)
    sends = sum(len(times) for user, times in fake.arrivals.items() if user.startswith("7"))
    return {"mode": mode, "users": options.users, "seconds": options.duration, "events": len(ordered),
            "events_per_second": round(len(ordered) / options.duration, 1),
            "p50_ms": round(percentile(ordered, 0.5) * 1000, 1),
            "p99_ms": round(percentile(ordered, 0.99) * 1000, 1),
            "max_ms": round((ordered[-1] if ordered else 0.0) * 1000, 1),
            "ack_p50_ms": round(percentile(sorted(acks), 0.5) * 1000, 1),
            "ack_p99_ms": round(percentile(sorted(acks), 0.99) * 1000, 1),
            "errors": sum(errors.values()), "error_kinds": dict(errors),
            "messages_per_event": round(sends / max(posted, 1), 2), "reply_sizes": sizes}


async def run_mode(name: str, database_url: str | None, mode: str,
                   options: argparse.Namespace) -> dict[str, Any]:
    fake = BenchFake()
    await fake.start()
    try:
        async with fresh_server(f"{name}-{mode}", database_url, fake, mode) as server:
            log(f"[{name}] {mode}: {options.users} users, "
                f"{options.warmup:g} s warm-up + {options.duration:g} s")
            result = await load(server, fake, mode, options)
        result["server_log_errors"] = logged_errors(server)
        return result
    finally:
        await fake.close()


def table(results: Sequence[dict[str, Any]]) -> str:
    lines = [f"{'backend':<11}{'mode':<5}{'users':>6}{'events/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}"
             f"{'errors':>7}{'msgs/event':>11}{'200 p99 ms':>11}"]
    for result in results:
        for run in result["modes"]:
            lines.append(f"{result['backend']:<11}{run['mode']:<5}{run['users']:>6}{run['events_per_second']:>10.1f}"
                         f"{run['p50_ms']:>8.1f}{run['p99_ms']:>8.1f}{run['max_ms']:>8.1f}{run['errors']:>7}"
                         f"{run['messages_per_event']:>11}{run['ack_p99_ms']:>11.1f}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.zalo", description=DESCRIPTION)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES_URL,
                        help="PostgreSQL URL (its public schema is dropped!); default %(default)s")
    parser.add_argument("--modes", nargs="+", choices=("oa", "bot"), default=["oa", "bot"])
    parser.add_argument("--users", type=int, default=50, help="Zalo users posting in a closed loop")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the measured window")
    parser.add_argument("--duration", type=float, default=15.0, help="measured window, seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object with all figures")
    options = parser.parse_args(argv)
    if options.users < 1 or options.duration <= 0:
        parser.error("--users and --duration must be positive")
    return options


async def run(options: argparse.Namespace) -> list[dict[str, Any]] | None:
    cancel_on_signals(asyncio.current_task())
    try:
        return [{"backend": name,
                 "modes": [await run_mode(name, url, mode, options) for mode in options.modes]}
                for name, url in backends(options)]
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
