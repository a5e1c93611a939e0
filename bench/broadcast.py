"""Broadcast benchmark: a real announcement to many Telegram subscribers, fanned out and drained by one or
two `xaso serve` nodes against the fake Bot API, which refuses (429, retry_after 1) any send beyond the
configured rate in a sliding second, as Telegram does per bot.

For each configuration (SQLite with one node; PostgreSQL with each `--nodes` count, the nodes sharing the
database and the bot token), in a fresh database:

1. `--subscribers` Telegram users subscribed to the `general` topic, written straight to the database;
   a staff member made with `xaso invite staff` and `/join`.
2. The staff member announces through node 1's webhook as staff do (`/announce`, whole commune, topic,
   now, confirm): the confirming turn queues one outbox row per subscriber in its transaction (the
   fan-out, timed from the confirmation's 200 until the rows are visible). Each row is the text, then the
   voice note (every announcement has one: it cannot be confirmed without its audio), so two Bot API
   calls per subscriber.
3. The nodes' Telegram senders drain it; every node has `XASO_TELEGRAM_GLOBAL_RATE` = the fake's limit.

Figures, counted at the fake: the achieved send rate after `--warmup` seconds from the first delivery
(as a fraction of the configured rate), 429s (all, and after the warm-up), parts lost (a subscriber
without its text or its voice note) and parts doubled (the same part delivered to a chat twice), and the
sends of each node. Everything runs on 127.0.0.1; the PostgreSQL database's `public` schema is dropped
first: give it a database of its own. Goal (issue 18): ≥ 95 % of the rate, 0 lost, 0 doubled.

    su postgres -c "createdb -O xaso xaso_bench_tg"     # once
    .venv/bin/python -m bench.broadcast --subscribers 10000 --rate 100 --nodes 1 2 --backend both
    .venv/bin/python -m bench.broadcast --subscribers 1000 --backend sqlite --json   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench.faults import (
    POST_TIMEOUT,
    STAFF_CHAT,
    SUBSCRIBER_BASE,
    FaultFake,
    Node,
    add_subscribers,
    announce,
    message_update,
    node_environment,
    settled,
    staff_step,
)
from bench.webchat import check_loopback, free_port, log, reset_postgres, server_command
from tests.support.fake_telegram import SEND_METHODS, Call

DESCRIPTION = ("Broadcast benchmark: an announcement to many Telegram subscribers, fanned out and drained "
               "by one or two nodes against a fake Bot API enforcing the rate.")
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://xaso:xaso@127.0.0.1:5432/xaso_bench_tg"
GOAL = 0.95
FANOUT_TIMEOUT = 300.0
PARTS_PER_SUBSCRIBER = 2  # the text, then the voice note


class BroadcastFake(FaultFake):
    """The fault benchmark's fake, refusing sends beyond `limit` in a sliding second."""

    def __init__(self, limit: float) -> None:
        super().__init__(global_limit=limit)

    def deliveries(self, since: int = 0) -> list[Call]:
        """Sends to subscribers the fake accepted (a user has them), in order of arrival."""
        return [call for call in self.calls[since:] if call.method in SEND_METHODS and call.status == 200
                and int(call.params.get("chat_id", 0)) >= SUBSCRIBER_BASE]

    def refused(self, since: int = 0) -> list[Call]:
        return [call for call in self.calls[since:] if call.method in SEND_METHODS and call.status == 429]


async def prepare(workdir: Path, env: dict[str, str], *arguments: str) -> None:
    xaso = server_command(0, None)[0]
    await asyncio.to_thread(subprocess.run, [xaso, *arguments], cwd=workdir, env=env, capture_output=True,
                            check=True)


async def announcement_rows(database_url: str) -> int:
    from sqlalchemy import func, select

    from core.db import Database
    from core.models import OutboxMessage

    database = Database(database_url, pool_size=1)
    try:
        async with database.session() as session:
            return int(await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.key.like("ann:%"))) or 0)
    finally:
        await database.close()


async def until_fanned_out(database_url: str, count: int) -> float:
    """Waits until the announcement's `count` outbox rows are committed; when, on the monotonic clock."""
    deadline = time.monotonic() + FANOUT_TIMEOUT
    while (rows := await announcement_rows(database_url)) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"fan-out incomplete after {FANOUT_TIMEOUT:.0f} s: {rows} of {count} rows")
        await asyncio.sleep(0.02)
    return time.monotonic()


async def until_delivered(fake: BroadcastFake, since: int, parts: int, timeout: float) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    seen: set[tuple[int, str]] = set()
    checked = since
    while len(seen) < parts and time.monotonic() < deadline:
        end = len(fake.calls)
        seen.update((int(call.params["chat_id"]), call.method) for call in fake.deliveries(checked))
        checked = end
        await asyncio.sleep(0.2)


def per_second(times: Sequence[float]) -> float:
    """Sends per second over a run of arrival times (each gap counted once)."""
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0


def busiest_second(times: Sequence[float]) -> int:
    """The most sends accepted in any sliding second (the fake's limit bounds it)."""
    most, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def figures(fake: BroadcastFake, since: int, options: argparse.Namespace) -> dict[str, Any]:
    rate, subscribers = options.rate, options.subscribers
    deliveries = fake.deliveries(since)
    refused = fake.refused(since)
    times = [call.at for call in deliveries]
    first, last = (times[0], times[-1]) if times else (0.0, 0.0)
    steady = [at for at in times if at >= first + options.warmup]
    achieved = per_second(steady)
    parts = Counter((int(call.params["chat_id"]), call.method) for call in deliveries)
    expected = {(SUBSCRIBER_BASE + n, method) for n in range(subscribers)
                for method in ("sendMessage", "sendVoice")}
    return {
        "parts": len(expected), "delivered": len(deliveries), "drain_seconds": round(last - first, 2),
        "achieved_per_second": round(achieved, 2), "fraction_of_rate": round(achieved / rate, 4),
        "overall_per_second": round(per_second(times), 2), "busiest_second": busiest_second(times),
        "rejected_429": len(refused),
        "rejected_429_after_warmup": sum(1 for call in refused if call.at > first + options.warmup),
        "lost": len(expected - set(parts)),
        "doubled": sum(count - 1 for count in parts.values() if count > 1),
        "unexpected": len(set(parts) - expected),
        "sends_by_node": dict(sorted(Counter(call.via for call in deliveries).items())),
    }


async def run_config(backend: str, database_url: str, nodes: int, workdir: Path, secret_key: str,
                     options: argparse.Namespace) -> dict[str, Any]:
    name = f"{backend}-{nodes}"
    log(f"[{name}] {options.subscribers} subscribers, rate {options.rate:g}/s, {nodes} node(s)")
    if backend == "postgresql":
        await reset_postgres(database_url)
    fake = await BroadcastFake(options.rate).start()
    running: list[Node] = []
    load_before = os.getloadavg()[0]
    try:
        base = node_environment(database_url, fake, workdir, secret_key, None, options.rate)
        await prepare(workdir, base, "db", "upgrade")
        for number in range(1, nodes + 1):
            env = base | {"XASO_TELEGRAM_API_BASE": fake.api_base_for(f"node-{number}")}
            running.append(Node(f"{name}-node-{number}", free_port(), env, workdir))
        connections = len(fake.sent("getMe")) + nodes
        await asyncio.gather(*(node.start(fake, connections) for node in running))
        await add_subscribers(database_url, options.subscribers)
        timeout = aiohttp.ClientTimeout(total=POST_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as client:
            code = (await asyncio.to_thread(
                subprocess.run, [server_command(0, None)[0], "invite", "staff"], cwd=workdir, env=base,
                capture_output=True, check=True)).stdout.decode().split()[-1]
            await staff_step(client, fake, running[0], message_update(STAFF_CHAT, f"/join {code}"), None)
            since = len(fake.calls)
            await announce(client, fake, running[0], 1)
        confirmed = time.monotonic()
        fanned_out = await until_fanned_out(database_url, options.subscribers)
        log(f"[{name}] fan-out {fanned_out - confirmed:.1f} s; draining")
        parts = options.subscribers * PARTS_PER_SUBSCRIBER
        await until_delivered(fake, since, parts, parts / (options.rate * GOAL) * 1.5 + 60.0)
        await asyncio.sleep(2.0)  # anything sent twice would show now
        state = await settled(database_url, timeout=10.0)
        result = figures(fake, since, options)
        if options.trace is not None:
            write_trace(options.trace / f"{name}.csv", fake, since)
        first = fake.deliveries(since)[:1]
        result |= {
            "backend": backend, "nodes": nodes, "subscribers": options.subscribers, "rate": options.rate,
            "fanout_seconds": round(fanned_out - confirmed, 2),
            "first_delivery_after_confirm_seconds": round(first[0].at - confirmed, 2) if first else None,
            "outbox": state["outbox"], "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
    finally:
        for node in running:
            await node.stop()
        await fake.close()
    result["server_errors"] = sum(len(node.errors()) for node in running)
    for node in running:
        for line in node.errors()[:3]:
            log(f"{node.name}: {line[:240]}")
    result["meets_goal"] = (result["fraction_of_rate"] >= GOAL and result["lost"] == 0
                            and result["doubled"] == 0)
    log(f"[{name}] {result['achieved_per_second']:.1f}/s ({result['fraction_of_rate']:.1%}), "
        f"429s {result['rejected_429']}, lost {result['lost']}, doubled {result['doubled']}")
    return result


def write_trace(path: Path, fake: BroadcastFake, since: int) -> None:
    """Every send call of the run: arrival (s), node, method, chat, HTTP status."""
    path.parent.mkdir(parents=True, exist_ok=True)
    calls = [call for call in fake.calls[since:] if call.method in SEND_METHODS]
    origin = calls[0].at if calls else 0.0
    with path.open("w", encoding="utf-8") as out:
        out.write("at,node,method,chat,status\n")
        for call in calls:
            out.write(f"{call.at - origin:.6f},{call.via},{call.method},{call.params.get('chat_id')},"
                      f"{call.status}\n")


def configurations(options: argparse.Namespace) -> list[tuple[str, str | None, int]]:
    found: list[tuple[str, str | None, int]] = []
    if options.backend in ("sqlite", "both"):
        if any(nodes > 1 for nodes in options.nodes):
            log("SQLite is one node's database: its run has one node")
        found.append(("sqlite", None, 1))
    if options.backend in ("postgresql", "both"):
        found.extend(("postgresql", options.database_url, nodes) for nodes in options.nodes)
    return found


async def run(options: argparse.Namespace) -> list[dict[str, Any]]:
    if options.backend != "sqlite":
        check_loopback(options.database_url)
    secret_key = secrets.token_urlsafe(32)
    results = []
    with tempfile.TemporaryDirectory(prefix="xaso-bench-broadcast-") as temp:
        workdir = Path(temp)
        # The signing keys (announcements are signed) and the NLU model, once for every configuration.
        env = node_environment(f"sqlite+aiosqlite:///{workdir / 'prepare.db'}", BroadcastFake(1.0), workdir,
                               secret_key, None, options.rate)
        await asyncio.gather(prepare(workdir, env, "keys", "init"), prepare(workdir, env, "nlu", "train"))
        for backend, url, nodes in configurations(options):
            database_url = url or f"sqlite+aiosqlite:///{workdir / f'broadcast-{len(results)}.db'}"
            results.append(await run_config(backend, database_url, nodes, workdir, secret_key, options))
    return results


def table(results: Sequence[dict[str, Any]]) -> str:
    lines = [f"{'backend':<11}{'nodes':>6}{'subs':>7}{'rate/s':>7}{'fan-out s':>10}{'drain s':>8}"
             f"{'sent/s':>8}{'of rate':>8}{'429':>5}{'429 late':>9}{'lost':>5}{'double':>7}  sends by node"]
    for result in results:
        by_node = ", ".join(f"{count}" for count in result["sends_by_node"].values())
        lines.append(f"{result['backend']:<11}{result['nodes']:>6}{result['subscribers']:>7}"
                     f"{result['rate']:>7g}{result['fanout_seconds']:>10.1f}{result['drain_seconds']:>8.1f}"
                     f"{result['achieved_per_second']:>8.1f}{result['fraction_of_rate']:>8.1%}"
                     f"{result['rejected_429']:>5}{result['rejected_429_after_warmup']:>9}"
                     f"{result['lost']:>5}{result['doubled']:>7}  {by_node}"
                     f"{'' if result['meets_goal'] else '  (goal not met)'}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.broadcast", description=DESCRIPTION)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES_URL,
                        help="PostgreSQL on this machine (its public schema is dropped!); "
                             "default %(default)s")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=100.0,
                        help="XASO_TELEGRAM_GLOBAL_RATE of every node and the fake's limit, sends/s")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2],
                        help="node counts to run on PostgreSQL (SQLite: one)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds after the first delivery left out of the rate and the late 429s")
    parser.add_argument("--trace", type=Path, default=None,
                        help="write every send call of each run to a CSV file in this folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    options = parser.parse_args(argv)
    if options.subscribers < 2 or options.rate <= 0 or min(options.nodes) < 1:
        parser.error("--subscribers, --rate and --nodes must be positive")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    started = time.monotonic()
    try:
        results = asyncio.run(run(options))
    except (RuntimeError, subprocess.CalledProcessError) as problem:
        print(f"FAILED: {problem}")
        return 1
    except KeyboardInterrupt:
        return 130
    if options.json:
        config = {key: value for key, value in vars(options).items() if key != "json"}
        config["database_url"] = config["database_url"].split("@")[-1]
        print(json.dumps({"config": config, "cpu_count": os.cpu_count(), "results": results,
                          "seconds": round(time.monotonic() - started, 1)}, ensure_ascii=False, default=str))
    else:
        print(table(results))
    return 0 if all(result["meets_goal"] for result in results) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
