"""Homestay booking benchmark: guests confirming at the same moment, each in a transaction of its own as a
chat turn does, through the real `backends.tourism.bookings.book` (the booking row and one `stay_nights`
row per night in a savepoint; a night someone else holds fails it).

Two runs per database, in a fresh schema:

- **rush**: `--rounds` times, `--guests` guests at once want two nights of the same stay, half arriving a
  day after the other half, so that every pair overlaps on a night. Exactly one booking per round may
  stand; the figure is how many stood (must equal the rounds), how many were refused, and the latency of
  an attempt (p50, p99) under that contention.
- **spread**: the same number of guests at once, each for nights no one else wants (other stays or other
  days): every attempt must stand; the figure is bookings per second.

Everything on 127.0.0.1; the PostgreSQL database's `public` schema is dropped first: give it its own.

    su postgres -c "createdb -O xaso xaso_bench"     # once (shared with bench.webchat)
    .venv/bin/python -m bench.bookings --backend both
    .venv/bin/python -m bench.bookings --backend sqlite --guests 20 --rounds 10 --json
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from backends.tourism.bookings import UNPAID, Booking, NightTaken, Request, StayNight, book
from bench.webchat import check_loopback, reset_postgres
from core.crypto import FieldCipher
from core.db import Database
from core.models import User

DEFAULT_PG = "postgresql+asyncpg://xaso:xaso@127.0.0.1:5432/xaso_bench"
COMMUNE = "LB"
PRICE, DEPOSIT = 600_000, 360_000


async def _users(database: Database, count: int) -> list[int]:
    async with database.session() as session:
        users = [User(channel="web", external_id=f"bench-guest-{n}") for n in range(count)]
        session.add_all(users)
        await session.flush()
        return [user.id for user in users]


async def _attempt(
    database: Database, cipher: FieldCipher, request: Request, user_id: int, key: str
) -> tuple[bool, float]:
    started = time.perf_counter()
    try:
        async with database.session() as session:
            await book(
                session,
                cipher,
                request,
                commune=COMMUNE,
                user_id=user_id,
                request_key=key,
                status=UNPAID,
                hold_until=None,
            )
    except NightTaken:
        return False, time.perf_counter() - started
    return True, time.perf_counter() - started


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def run(database: Database, guests: int, rounds: int) -> dict[str, Any]:
    await database.upgrade()
    cipher = FieldCipher(b"b" * 32)
    users = await _users(database, guests)
    first = dt.date(2030, 1, 1)

    rush_latencies: list[float] = []
    stood = refused = 0
    started = time.perf_counter()
    for number in range(rounds):
        arrive = first + dt.timedelta(days=10 * number)

        def wanted(n: int, arrive: dt.date = arrive) -> Request:
            day = arrive + dt.timedelta(days=n % 2)
            return Request(
                "rush", day, day + dt.timedelta(days=2), 2, PRICE, DEPOSIT, "vietqr", "Guest", "0912345678"
            )

        outcomes = await asyncio.gather(
            *(_attempt(database, cipher, wanted(n), users[n], f"rush-{number}-{n}") for n in range(guests))
        )
        stood += sum(ok for ok, _ in outcomes)
        refused += sum(not ok for ok, _ in outcomes)
        rush_latencies += [seconds for _, seconds in outcomes]
    rush_seconds = time.perf_counter() - started

    spread_start = time.perf_counter()
    far = first + dt.timedelta(days=10 * rounds + 10)
    outcomes = await asyncio.gather(
        *(
            _attempt(
                database,
                cipher,
                Request(
                    f"spread-{n}",
                    far,
                    far + dt.timedelta(days=2),
                    2,
                    PRICE,
                    DEPOSIT,
                    "vietqr",
                    "Guest",
                    "0912345678",
                ),
                users[n],
                f"spread-{n}",
            )
            for n in range(guests)
        )
    )
    spread_seconds = time.perf_counter() - spread_start

    async with database.session() as session:
        rush_rows = int(
            await session.scalar(select(func.count()).select_from(Booking).where(Booking.stay_id == "rush"))
            or 0
        )
        nights = int(
            await session.scalar(
                select(func.count()).select_from(StayNight).where(StayNight.stay_id == "rush")
            )
            or 0
        )
    return {
        "guests_at_once": guests,
        "rounds": rounds,
        "rush": {
            "bookings_standing": stood,
            "refused": refused,
            "rows": rush_rows,
            "nights_held": nights,
            "double_booked": int(stood != rounds or rush_rows != rounds or nights != 2 * rounds),
            "attempt_p50_ms": round(1000 * statistics.median(rush_latencies), 1),
            "attempt_p99_ms": round(1000 * _percentile(rush_latencies, 0.99), 1),
            "attempts_per_s": round(guests * rounds / rush_seconds, 1),
        },
        "spread": {
            "booked": sum(ok for ok, _ in outcomes),
            "of": guests,
            "bookings_per_s": round(guests / spread_seconds, 1),
            "attempt_p99_ms": round(1000 * _percentile([s for _, s in outcomes], 0.99), 1),
        },
    }


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument(
        "--database-url", default=DEFAULT_PG, help="PostgreSQL (its public schema is dropped)"
    )
    parser.add_argument("--guests", type=int, default=20, help="guests confirming at once")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.guests < 2 or args.rounds < 1:
        parser.error("--guests at least 2, --rounds at least 1")
    figures: dict[str, Any] = {}
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            database = Database(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
            try:
                figures["sqlite"] = await run(database, args.guests, args.rounds)
            finally:
                await database.close()
    if args.backend in ("postgresql", "both"):
        check_loopback(args.database_url)
        await reset_postgres(args.database_url)
        database = Database(args.database_url)
        try:
            figures["postgresql"] = await run(database, args.guests, args.rounds)
        finally:
            await database.close()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for backend, found in figures.items():
            rush, spread = found["rush"], found["spread"]
            print(f"{backend}: {found['guests_at_once']} guests at once, {found['rounds']} rounds")
            print(
                f"  rush:   {rush['bookings_standing']} bookings stood of {found['rounds']} rounds, "
                f"{rush['refused']} refused, double-booked {rush['double_booked']}; attempt p50 "
                f"{rush['attempt_p50_ms']} ms, p99 {rush['attempt_p99_ms']} ms; "
                f"{rush['attempts_per_s']} attempts/s"
            )
            print(
                f"  spread: {spread['booked']}/{spread['of']} booked, {spread['bookings_per_s']} bookings/s, "
                f"p99 {spread['attempt_p99_ms']} ms"
            )
    return (
        1
        if any(
            found["rush"]["double_booked"] or found["spread"]["booked"] != found["spread"]["of"]
            for found in figures.values()
        )
        else 0
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
