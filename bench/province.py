"""Province benchmark: one installation for two communes (La Bằng and Sảng Mộc) with 10,000 villagers
each and their records, against the same data served as one commune.

For each backend and run it seeds a fresh database (villagers, dossiers, village reports, orders and
consults for each commune, their fields encrypted with the server's key) and runs `xaso serve` on it:
  single    XASO_COMMUNES unset: La Bằng alone, its villagers writing;
  province  XASO_COMMUNES=LB,SM: half the villagers of each commune writing;
`--rounds` pairs of runs, single then province, then the other way round.
Each run measures messages per second and server CPU per message (bench/webchat.py's closed loop), and
how long an official's and a doctor's lists take with the commune's 10,000 villagers' records (/dossiers,
/reports, /queue, each asked `--lists` times), and how long the official's dashboard takes to open (and,
in the province run, the province's overview of both communes). It prints both runs and the province's
msg/s as a share of the single commune's (the goal: a drop of 10 % at most).

    python -m bench.province [--backend sqlite|postgresql|both] [--villagers 10000] [--duration 20]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench.webchat import (
    CLIENT_CONNECTIONS,
    DEFAULT_POSTGRES_URL,
    REQUEST_TIMEOUT,
    ChatUser,
    check_loopback,
    create_users,
    log,
    logged_errors,
    percentile,
    reset_postgres,
    running_server,
    server_environment,
    throughput_phase,
)

COMMUNES = ("LB", "SM")
HAMLETS = {"LB": ("tien_thanh", "kem", "la_cut", "dong_tien", "ban_hon", "rung_van"),
           "SM": ("khuoi_meo", "na_khao", "khuoi_chao", "mo_ga", "dong_ke", "lang_muoi")}
PRODUCTS = {"LB": ("tea_moc_cau", "htx_che_la_bang"), "SM": ("sm_honey_forest", "htx_mat_ong_sang_moc")}
# Per villager: how many of each record the commune holds (a busy commune's year).
DOSSIERS, REPORTS, ORDERS, CONSULTS = 0.2, 0.1, 0.1, 0.05
LISTS = (("official", "staff", "/dossiers"), ("official", "staff", "/reports"),
         ("doctor", "doctor", "/queue"))
DASHBOARD = "/dashboard"
PROVINCE_OVERVIEW = "/dashboard (province)"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
GOAL_SHARE = 0.9
SEQUENCES_AFTER_SEED = (
    "SELECT setval(pg_get_serial_sequence('village_reports', 'id'), (SELECT max(id) FROM village_reports))",
    "SELECT setval(pg_get_serial_sequence('health_consults', 'id'), (SELECT max(id) FROM health_consults))",
)


async def seed(database_url: str, secret: str, villagers: int, seed_value: int) -> dict[str, int]:
    """The schema at head, then each commune's villagers and records, in bulk."""
    from sqlalchemy import insert, text

    from backends.health import consults
    from backends.health.consults import Consult
    from backends.onestop.store import Dossier
    from backends.reports import store as reports
    from backends.reports.store import Report
    from backends.shop.orders import Order
    from core.crypto import FieldCipher
    from core.db import Database
    from core.models import User

    os.environ["XASO_COMMUNE_CODE"] = "LB"  # the migration's default commune for existing rows
    database = Database(database_url)
    cipher = FieldCipher(secret.encode())
    rng = random.Random(seed_value)
    now = dt.datetime.now(dt.UTC)
    counts: dict[str, int] = {}
    # Sealed fields are bound to their row (its id or code), as the services write them.
    next_report, next_consult = iter(range(1, 10**9)), iter(range(1, 10**9))
    try:
        await database.upgrade()
        for commune in COMMUNES:
            async with database.session() as session:
                # Villagers who joined over the past year and wrote last at some moment since.
                joined = [now - dt.timedelta(days=rng.randrange(365)) for _ in range(villagers)]
                users = [{"channel": "web", "external_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                          "language": "vi", "commune": commune, "created_at": at,
                          "last_seen_at": at + (now - at) * rng.random(),
                          "phone_verified": False, "unreachable": False} for at in joined]
                ids = list((await session.execute(insert(User).returning(User.id), users)).scalars())
            hamlets = HAMLETS[commune]
            product, seller = PRODUCTS[commune]
            rows: dict[type, list[dict[str, Any]]] = {
                Dossier: [{"commune": commune, "code": f"{commune}-2026-{n + 1:06d}",
                           "procedure_id": "birth_registration", "user_id": rng.choice(ids),
                           "status": rng.choice(("received", "processing", "needs_info", "approved",
                                                      "rejected", "delivered")),
                           "values_enc": cipher.encrypt("{}", f"dossiers.values:{commune}-2026-{n + 1:06d}"),
                           "papers": {},
                           "submitted_at": now - dt.timedelta(days=rng.randrange(365)),
                           "due_date": (now + dt.timedelta(days=rng.randrange(-30, 30))).date(),
                           "updated_at": now} for n in range(int(villagers * DOSSIERS))],
                Report: [{"id": (row := next(next_report)), "commune": commune,
                          "code": f"PA{commune}{n + 1:06d}", "kind": "road", "hamlet_id": rng.choice(hamlets),
                          "description_enc": reports.seal(cipher, "ổ gà trên đường", "description", row),
                          "reporter_id": rng.choice(ids), "channel": "web",
                          "status": rng.choice(("open", "assigned", "resolved", "closed")), "reopened": 0,
                          "created_at": now - dt.timedelta(days=rng.randrange(365))}
                         for n in range(int(villagers * REPORTS))],
                Order: [{"commune": commune, "code": f"DH{commune}{n + 1:06d}",
                         "request_key": uuid.UUID(int=rng.getrandbits(128)).hex,
                         "user_id": rng.choice(ids), "product_id": product, "seller_id": seller,
                         "quantity_milli": 1000, "unit": "kg", "unit_price_vnd": 300_000,
                         "subtotal_vnd": 300_000, "shipping_vnd": 0, "total_vnd": 300_000,
                         "payment_provider": "cash", "hamlet_id": rng.choice(hamlets),
                         "status": rng.choice(("new", "paid", "shipped", "delivered", "cancelled")),
                         "created_at": now - dt.timedelta(days=rng.randrange(365))}
                        for n in range(int(villagers * ORDERS))],
                Consult: [{"id": (row := next(next_consult)), "commune": commune, "user_id": rng.choice(ids),
                           "who": "self", "age": 60,
                           "symptoms_enc": consults.seal(cipher, "ho, sốt nhẹ", "symptoms", row),
                           "since_enc": consults.seal(cipher, "2 ngày", "since", row),
                           "status": rng.choice(("open", "answered", "closed")), "escalation_step": 0,
                           "notified": "", "created_at": now - dt.timedelta(days=rng.randrange(90))}
                          for _ in range(int(villagers * CONSULTS))],
            }
            async with database.session() as session:
                for model, values in rows.items():
                    for start in range(0, len(values), 2000):
                        await session.execute(insert(model), values[start:start + 2000])
                    counts[f"{commune}.{model.__tablename__}"] = len(values)
            counts[f"{commune}.villagers"] = villagers
        if not database.is_sqlite:  # rows written with their ids: the sequences go on after them
            async with database.session() as session:
                for statement in SEQUENCES_AFTER_SEED:
                    await session.execute(text(statement))
    finally:
        await database.close()
    return counts


async def make_staff(database_url: str, base_url: str, commune: str | None,
                     province: bool = False) -> tuple[dict[str, ChatUser], dict[str, int]]:
    """An official and a doctor of `commune` (None: the installation's own), as web chat users with
    their roles granted in the database; with `province`, someone holding the province's role too.
    The users and their ids."""
    from sqlalchemy import select

    from core.db import Database
    from core.identity import grant_role
    from core.models import User

    roles = {name: (role, commune) for name, role, _command in LISTS}
    if province:
        roles["province"] = ("province", None)
    users, _ = await create_users(base_url, len(roles), seed=7, communes=(commune,) if commune else ())
    database = Database(database_url)
    staff: dict[str, ChatUser] = {}
    ids: dict[str, int] = {}
    try:
        async with database.session() as session:
            for (name, (role, scope)), user in zip(roles.items(), users, strict=True):
                user_id = (await session.execute(select(User.id).where(User.external_id == user.user_id))
                           ).scalar_one()
                await grant_role(session, user_id, role, "bench", commune=scope)
                staff[name], ids[name] = user, user_id
    finally:
        await database.close()
    return staff, ids


async def time_lists(base_url: str, staff: dict[str, ChatUser], times: int) -> dict[str, dict[str, float]]:
    url = f"{base_url}/api/chat/messages"
    results: dict[str, dict[str, float]] = {}
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as client:
        for name, _role, command in LISTS:
            seconds: list[float] = []
            for _ in range(times):
                started = time.perf_counter()
                async with client.post(url, json={"text": command}, headers=staff[name].headers) as response:
                    body = await response.json()
                if response.status != 200 or not body.get("replies"):
                    raise RuntimeError(f"{command}: HTTP {response.status} {body}")
                seconds.append(time.perf_counter() - started)
            results[command] = timings(seconds)
    return results


def timings(seconds: list[float]) -> dict[str, float]:
    seconds = sorted(seconds)
    return {"p50_ms": round(percentile(seconds, 0.5) * 1000, 1),
            "p95_ms": round(percentile(seconds, 0.95) * 1000, 1)}


async def time_dashboard(database_url: str, secret: str, base_url: str, user_id: int,
                         times: int) -> dict[str, float]:
    """Logs `user_id` in to the dashboard (a one-time link made in the database, as `/dashboard` in chat
    makes it, then the login page's button) and times opening its overview `times` times."""
    from bots.dashboard.store import Lifetimes, create_link
    from core.config import Settings
    from core.crypto import Hasher
    from core.db import Database

    settings = Settings(_env_file=None, secret_key=secret, database_url=database_url)
    database = Database(database_url)
    try:
        async with database.session() as session:
            token = await create_link(session, Hasher(settings.secret()), user_id,
                                      Lifetimes.from_settings(settings))
    finally:
        await database.close()
    jar = aiohttp.CookieJar(unsafe=True)  # cookies of an address, not a host name
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as client:
        async with client.get(f"{base_url}/dashboard/login?token={token}") as response:
            found = CSRF.search(await response.text())
        if found is None:
            raise RuntimeError(f"the dashboard's login page: HTTP {response.status}")
        async with client.post(f"{base_url}/dashboard/login", data={"token": token, "csrf": found.group(1)},
                               allow_redirects=False) as response:
            if response.status != 303:
                raise RuntimeError(f"dashboard login: HTTP {response.status}")
        seconds: list[float] = []
        for _ in range(times):
            started = time.perf_counter()
            async with client.get(f"{base_url}/dashboard") as response:
                await response.read()
            if response.status != 200:
                raise RuntimeError(f"/dashboard: HTTP {response.status}")
            seconds.append(time.perf_counter() - started)
    return timings(seconds)


async def run_mode(mode: str, database_url: str, env: dict[str, str], workdir: Path,
                   options: argparse.Namespace) -> dict[str, Any]:
    run_env = dict(env)
    communes: Sequence[str] = ()
    if mode == "province":
        run_env["XASO_COMMUNES"] = ",".join(COMMUNES)
        communes = COMMUNES
    async with running_server(run_env, workdir) as server:
        log(f"[{mode}] server pid {server.process.pid}: {options.users} villagers writing")
        users, _ = await create_users(server.base_url, options.users, options.seed, communes)
        connector = aiohttp.TCPConnector(limit=CLIENT_CONNECTIONS, limit_per_host=CLIENT_CONNECTIONS)
        async with aiohttp.ClientSession(connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as client:
            throughput = await throughput_phase(client, server, users, options.warmup, options.duration)
        lists = {}
        for commune in (communes or (None,)):
            province = mode == "province" and commune == communes[0]
            staff, ids = await make_staff(database_url, server.base_url, commune, province)
            timed = await time_lists(server.base_url, staff, options.lists)
            timed[DASHBOARD] = await time_dashboard(database_url, env["XASO_SECRET_KEY"], server.base_url,
                                                    ids["official"], options.lists)
            if province:
                timed[PROVINCE_OVERVIEW] = await time_dashboard(
                    database_url, env["XASO_SECRET_KEY"], server.base_url, ids["province"], options.lists)
            lists[commune or "LB"] = timed
    errors = logged_errors(server)
    if errors and options.keep_logs:
        kept = Path(options.keep_logs) / f"{mode}-server.log"
        kept.write_bytes(server.log_path.read_bytes())
        log(f"[{mode}] the server logged {errors} error(s): its log is kept in {kept}")
    return {"mode": mode, "throughput": throughput, "lists": lists, "server_log_errors": errors}


def schedule(rounds: int) -> list[str]:
    """The runs' order: single, province, then province, single, … (drift in the machine's load or in
    the database cancels out over a pair of rounds)."""
    modes: list[str] = []
    for number in range(rounds):
        modes += ["single", "province"] if number % 2 == 0 else ["province", "single"]
    return modes


async def run_backend(name: str, database_url: str | None, options: argparse.Namespace) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix=f"xaso-province-{name}-") as temp:
        for number, mode in enumerate(schedule(options.rounds), start=1):
            # Each run on the same data freshly seeded: what one run wrote (messages, audit entries)
            # does not weigh on the next one's lists and dashboard.
            workdir = Path(temp) / f"run-{number}"
            workdir.mkdir()
            url = database_url or f"sqlite+aiosqlite:///{workdir / 'xaso.db'}"
            if database_url is not None:
                await reset_postgres(database_url)
            env = server_environment(url)
            log(f"[{name}] run {number} ({mode}): seeding {options.villagers} villagers per commune")
            started = time.perf_counter()
            counts = await seed(url, env["XASO_SECRET_KEY"], options.villagers, options.seed)
            log(f"[{name}] seeded in {time.perf_counter() - started:.1f} s: {counts}")
            runs.append(await run_mode(mode, url, env, workdir, options) | {"run": number})
    medians = {mode: statistics.median(run["throughput"]["messages_per_second"] for run in runs
                                       if run["mode"] == mode) for mode in ("single", "province")}
    return {"backend": name, "seeded": counts, "runs": runs, "median_messages_per_second": medians,
            "province_share_of_single": (round(medians["province"] / medians["single"], 3)
                                         if medians["single"] else None)}


def report(results: Sequence[dict[str, Any]]) -> str:
    columns = [command for _n, _r, command in LISTS] + [DASHBOARD, PROVINCE_OVERVIEW]
    lines = ["| backend | run | msg/s | server CPU ms/msg | p99 ms | errors | "
             + " | ".join(f"{column} p50/p95 ms" for column in columns) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(columns)]
    for result in results:
        for run in result["runs"]:
            phase = run["throughput"]
            for commune, lists in run["lists"].items():
                cells = [f"{lists[c]['p50_ms']}/{lists[c]['p95_ms']}" if c in lists else "–" for c in columns]
                lines.append(f"| {result['backend']} | {run['run']}: {run['mode']} ({commune} staff) | "
                             f"{phase['messages_per_second']} | {phase.get('server_cpu_ms_per_message')} | "
                             f"{phase['p99_ms']} | {phase['errors']} | " + " | ".join(cells) + " |")
        share = result["province_share_of_single"]
        verdict = "met" if share is not None and share >= GOAL_SHARE else "NOT met"
        lines.append(f"\n{result['backend']}: median province msg/s = {share} × single commune's "
                     f"(goal ≥ {GOAL_SHARE}: {verdict})\n")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.province", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--villagers", type=int, default=10_000, help="per commune")
    parser.add_argument("--users", type=int, default=50, help="villagers writing at once")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--lists", type=int, default=20, help="times each staff list is asked")
    parser.add_argument("--rounds", type=int, default=2,
                        help="pairs of runs (single then province, then the other way round)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep-logs", metavar="DIR", help="keep the log of a server that logged errors here")
    options = parser.parse_args(argv)
    if options.rounds < 1 or options.villagers < 1:
        parser.error("--rounds and --villagers must be positive")
    return options


async def run(options: argparse.Namespace) -> list[dict[str, Any]]:
    chosen = {"sqlite": [("sqlite", None)], "postgresql": [("postgresql", options.database_url)],
              "both": [("sqlite", None), ("postgresql", options.database_url)]}[options.backend]
    results = []
    for name, url in chosen:
        if url is not None:
            check_loopback(url)
        results.append(await run_backend(name, url, options))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    results = asyncio.run(run(options))
    print(json.dumps(results, ensure_ascii=False, indent=1) if options.json else report(results))
    errors = sum(run["throughput"]["errors"] + run["server_log_errors"] for result in results
                 for run in result["runs"])
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
