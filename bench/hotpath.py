"""The hot path alone: CPU and SQL statements per message through `Assistant.handle`, in this process.

No HTTP and no load generator: 50 web chat users send the message mix of `bench/webchat.py` one after
the other, after a warm-up, and the benchmark prints the process's CPU milliseconds per message, the
wall time, and how many SQL statements a message runs, by statement (`--statements`). It measures one
change of the hot path at a time where `bench/webchat.py` measures the whole server.

    .venv/bin/python -m bench.hotpath                                   # SQLite in a temporary directory
    .venv/bin/python -m bench.hotpath --database-url postgresql+asyncpg://xaso:xaso@127.0.0.1:5432/xaso_bench
    .venv/bin/python -m bench.hotpath --statements --messages 3000
    .venv/bin/python -m bench.hotpath --communes LB,SM   # a province's installation, users in each commune
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.webchat import MESSAGE_BODIES, MESSAGE_WEIGHTS, check_loopback, reset_postgres

REPO_ROOT = Path(__file__).resolve().parent.parent
USERS = 50
_PG_PARAMETER = re.compile(r"[$]\d+::[A-Z ]+\b")  # asyncpg's "$1::INTEGER", shown as SQLite's "?"


async def measure(database_url: str | None, messages: int, warmup: int, seed: int,
                  communes: str = "") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="xaso-hotpath-") as temp:
        if database_url is None:
            database_url = f"sqlite+aiosqlite:///{Path(temp) / 'xaso.db'}"
        else:
            check_loopback(database_url)
            await reset_postgres(database_url)
        os.environ.update({
            "XASO_DATA_DIR": str(REPO_ROOT / "data"), "XASO_VAR_DIR": temp, "XASO_DATABASE_URL": database_url,
            "XASO_SECRET_KEY": "hotpath-" + "k" * 40, "XASO_RATE_LIMIT_PER_MINUTE": "1000000",
            "XASO_RATE_LIMIT_BURST": "100000", "XASO_LOAD_DEMO_DATA": "false", "XASO_COMMUNES": communes,
        })
        from sqlalchemy import event

        from bots.assistant import Assistant
        from core.config import Settings
        from core.messages import Incoming
        from core.models import User

        assistant = Assistant.build(Settings())
        await assistant.start()
        try:
            users: list[str] = []
            served = [local.services.commune.code for local in assistant.locals()]
            async with assistant.database.session() as session:
                for number in range(USERS):  # each in a commune, as after their first message
                    session.add(User(channel="web", external_id=f"hotpath-{number}", language="vi",
                                     commune=served[number % len(served)]))
                    users.append(f"hotpath-{number}")
            rng = random.Random(seed)
            bodies = [json.loads(body) for body in MESSAGE_BODIES]

            async def send(index: int) -> None:
                body = rng.choices(bodies, MESSAGE_WEIGHTS)[0]
                user = users[index % USERS]
                await assistant.handle(Incoming(channel="web", chat_id=user, user_id=user, language="vi",
                                                **body))

            for index in range(warmup):
                await send(index)
            statements: collections.Counter[str] = collections.Counter()

            def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
                statements[" ".join(statement.split())[:100]] += 1

            event.listen(assistant.database.engine.sync_engine, "before_cursor_execute", seen)
            cpu, wall = time.process_time(), time.perf_counter()
            for index in range(messages):
                await send(index)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            event.remove(assistant.database.engine.sync_engine, "before_cursor_execute", seen)
        finally:
            await assistant.close()
    return {
        "backend": "sqlite" if database_url.startswith("sqlite") else "postgresql",
        "communes": communes or "one",
        "messages": messages, "cpu_ms_per_message": round(cpu / messages * 1000, 2),
        "wall_ms_per_message": round(wall / messages * 1000, 2),
        "statements_per_message": round(sum(statements.values()) / messages, 2),
        "statements": {sql: round(count / messages, 2) for sql, count in statements.most_common()},
        "load_average": os.getloadavg()[0],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL (its public schema is dropped!); SQLite in a temporary "
                             "directory when absent")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--statements", action="store_true", help="list the statements of a message")
    parser.add_argument("--communes", default="",
                        help="serve these communes (XASO_COMMUNES, e.g. LB,SM); the users spread over them")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    if options.messages < 1 or options.warmup < 0:
        parser.error("--messages must be positive and --warmup not negative")
    return options


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    result = asyncio.run(measure(options.database_url, options.messages, options.warmup, options.seed,
                                 options.communes))
    if options.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"{result['backend']} ({result['communes']} commune(s)): {result['messages']} messages, "
          f"{result['cpu_ms_per_message']} ms CPU and "
          f"{result['wall_ms_per_message']} ms wall per message, {result['statements_per_message']} SQL "
          f"statements per message (load average {result['load_average']:.2f})")
    if options.statements:
        for sql, per_message in result["statements"].items():
            print(f"{per_message:8.2f}  {_PG_PARAMETER.sub('?', sql)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
