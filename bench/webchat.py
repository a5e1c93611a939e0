"""Web chat benchmark: messages per second and latency through the real HTTP API of `xaso serve`.

For each backend the benchmark starts its own `xaso serve` (fresh temporary working directory, so `var/`
and the SQLite file are new; PostgreSQL gets its `public` schema dropped and recreated first), waits for
`/healthz`, opens one web chat session per simulated user, then runs two phases:

1. throughput: every user sends the next message of a realistic Vietnamese mix as soon as the previous
   reply is back (closed loop), for a fixed time after a warm-up;
2. latency: an open-loop load at a fixed rate (sends are scheduled, not waiting for replies), spread
   over the same users; latency counts from the *scheduled* send time, so a late client counts too.

The load generator runs in this process (aiohttp client, one connection pool) on the same machine as
the server: they share the CPU, which the output reports. All traffic goes to 127.0.0.1.

    .venv/bin/python -m bench.webchat                      # SQLite
    .venv/bin/python -m bench.webchat --backend postgresql \\
        --database-url postgresql+asyncpg://xaso:xaso@127.0.0.1:5432/xaso_bench
    .venv/bin/python -m bench.webchat --backend both --json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import secrets
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

DESCRIPTION = "Web chat benchmark: messages per second and latency through the HTTP API of xaso serve."
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://xaso:xaso@127.0.0.1:5432/xaso_bench"
HOST = "127.0.0.1"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Raised far above what 50 users send, so the per-user flood limit never throttles the benchmark.
RATE_LIMIT_PER_MINUTE = 1_000_000
RATE_LIMIT_BURST = 100_000
HEALTH_TIMEOUT = 180.0  # the first start trains the NLU model and migrates the schema
STOP_TIMEOUT = 40.0  # the server's own shutdown timeout is 15 s, plus the outbox flush
REQUEST_TIMEOUT = 10.0
CLIENT_CONNECTIONS = 256  # the pool's bound; the open-loop phase may have more in flight than users
SETTLE_SECONDS = 1.0
P99_TARGET_MS = 50.0
TIMING_COLUMNS = ("p50_ms", "p99_ms", "max_ms")

# (request body, weight): what villagers type or tap, greetings and thanks included.
MESSAGE_MIX: tuple[tuple[dict[str, str], int], ...] = (
    ({"text": "xin chào"}, 3),
    ({"text": "Chào xã ạ"}, 1),
    ({"text": "toi muon nop ho so"}, 3),
    ({"text": "tôi muốn làm giấy khai sinh cho con"}, 1),
    ({"text": "hỏi bác sĩ"}, 2),
    ({"text": "con tôi bị ho mấy hôm nay"}, 1),
    ({"text": "mua chè"}, 2),
    ({"text": "cho tôi mua 2 kg chè Tân Cương"}, 1),
    ({"text": "có thông báo gì mới không"}, 1),
    ({"text": "cảm ơn"}, 2),
    ({"text": "hủy"}, 1),
    ({"button": "menu:help"}, 2),
    ({"button": "menu:shop_browse"}, 1),
    ({"button": "menu:dossier_status"}, 1),
)
MESSAGE_BODIES: tuple[bytes, ...] = tuple(json.dumps(body, ensure_ascii=False).encode()
                                          for body, _ in MESSAGE_MIX)
MESSAGE_WEIGHTS: tuple[int, ...] = tuple(weight for _, weight in MESSAGE_MIX)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------- figures
@dataclass
class Samples:
    """Latencies (seconds) of answered messages and the statuses of failed ones (0: no response)."""

    latencies: list[float] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)

    def add(self, status: int, latency: float) -> None:
        if status == 200:
            self.latencies.append(latency)
        else:
            self.failures.append(status)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class CpuMeter:
    """CPU used over one phase, in cores (CPU seconds per wall second): by this process (the load
    generator), by the server process (all its threads), and by the whole machine (the database too)."""

    server_pid: int
    started: float = field(default_factory=time.perf_counter)
    readings: dict[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.readings = self._read()

    def _read(self) -> dict[str, float | None]:
        return {"client": time.process_time(), "server": process_cpu_seconds(self.server_pid),
                "machine": machine_busy_seconds()}

    def shares(self) -> dict[str, float | None]:
        wall = max(time.perf_counter() - self.started, 1e-9)
        now = self._read()
        shares: dict[str, float | None] = {}
        for name, before in self.readings.items():
            after = now[name]
            used = None if before is None or after is None else round((after - before) / wall, 2)
            shares[f"{name}_cpu_cores"] = used
        return shares


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process from /proc (Linux); None where that is not available."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float | None:
    """Non-idle CPU seconds of the whole machine since boot, from /proc/stat (Linux)."""
    try:
        ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + ticks[4]  # idle + iowait
    return (sum(ticks) - idle) / os.sysconf("SC_CLK_TCK")


def summarise(name: str, samples: Samples, seconds: float, cpu: dict[str, float | None],
              **extra: Any) -> dict[str, Any]:
    ordered = sorted(samples.latencies)
    statuses: dict[str, int] = {}
    for status in samples.failures:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "phase": name, "seconds": round(seconds, 2), "messages": len(ordered),
        "messages_per_second": round(len(ordered) / seconds, 1) if seconds > 0 else 0.0,
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 1),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 1),
        "max_ms": round((ordered[-1] if ordered else 0.0) * 1000, 1),
        "errors": len(samples.failures), "error_statuses": statuses, **cpu,
        "server_cpu_ms_per_message": cpu_per_message(cpu.get("server_cpu_cores"), len(ordered), seconds),
        **extra,
    }


def cpu_per_message(cores: float | None, messages: int, seconds: float) -> float | None:
    """Server CPU milliseconds per answered message: the cores it kept busy over the phase, per rate."""
    if cores is None or not messages or seconds <= 0:
        return None
    return round(cores * seconds / messages * 1000, 2)


# ------------------------------------------------------------------------------------------ server
@dataclass
class Server:
    process: asyncio.subprocess.Process
    base_url: str
    log_path: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def ceiling_command(port: int, database_url: str) -> list[str]:
    return [sys.executable, "-m", "bench.ceiling", "--database-url", database_url, "--host", HOST,
            "--port", str(port)]


def server_command(port: int, cprofile: Path | None) -> list[str]:
    serve = ["serve", "--host", HOST, "--port", str(port)]
    if cprofile is not None:
        return [sys.executable, "-m", "cProfile", "-o", str(cprofile), "-m", "bots.cli", *serve]
    xaso = Path(sys.executable).parent / "xaso"
    return [str(xaso if xaso.exists() else REPO_ROOT / ".venv" / "bin" / "xaso"), *serve]


def server_environment(database_url: str) -> dict[str, str]:
    # No XASO_ setting of the caller reaches the server, but XASO_UVLOOP: `XASO_UVLOOP=0` measures the
    # server on asyncio's own event loop instead of uvloop's (bots/http_server.py).
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("XASO_") or key == "XASO_UVLOOP"}
    env.update({
        "XASO_DATABASE_URL": database_url,
        "XASO_SECRET_KEY": secrets.token_urlsafe(32),
        "XASO_PUBLIC_URL": f"http://{HOST}",
        "XASO_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT_PER_MINUTE),
        "XASO_RATE_LIMIT_BURST": str(RATE_LIMIT_BURST),
    })
    return env


@contextlib.asynccontextmanager
async def running_server(env: dict[str, str], workdir: Path, cprofile: Path | None = None,
                         ceiling: bool = False) -> AsyncIterator[Server]:
    """`xaso serve` (or, with `ceiling`, bench/ceiling.py's minimal app on the same database) as a child
    process with `env`, healthy on entry, stopped (SIGINT, then wait) on exit."""
    port = free_port()
    log_path = workdir / ("ceiling.log" if ceiling else "server.log")
    command = (ceiling_command(port, env["XASO_DATABASE_URL"]) if ceiling
               else server_command(port, cprofile))
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=REPO_ROOT if ceiling else workdir, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)
    server = Server(process, f"http://{HOST}:{port}", log_path)
    try:
        await wait_healthy(server)
        yield server
    finally:
        await stop_server(process)


async def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as client:
        while time.monotonic() < deadline:
            if server.process.returncode is not None:
                raise RuntimeError(f"xaso serve exited with {server.process.returncode}\n{log_tail(server)}")
            with contextlib.suppress(TimeoutError, aiohttp.ClientError):
                async with client.get(f"{server.base_url}/healthz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"xaso serve not healthy after {HEALTH_TIMEOUT:.0f} s\n{log_tail(server)}")


async def stop_server(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(asyncio.shield(process.wait()), STOP_TIMEOUT)
    except TimeoutError:
        log(f"xaso serve did not stop within {STOP_TIMEOUT:.0f} s after SIGINT: killing it")
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def logged_errors(server: Server, shown: int = 5) -> int:
    """How many ERROR lines the server logged; the first few go to stderr."""
    try:
        lines = server.log_path.read_text(errors="replace").splitlines()
    except OSError:
        return 0
    errors = [line for line in lines if " ERROR " in line]
    for line in errors[:shown]:
        log(f"server: {line[:300]}")
    return len(errors)


def log_tail(server: Server, lines: int = 30) -> str:
    try:
        return "\n".join(server.log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------- database
def check_loopback(database_url: str) -> None:
    from sqlalchemy.engine import make_url

    host = make_url(database_url).host
    if host is not None and host not in LOOPBACK_HOSTS:
        raise SystemExit(f"refusing a database that is not on this machine: {host}")


async def reset_postgres(database_url: str) -> None:
    """An empty `public` schema; the server migrates it at start."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    except (OSError, SQLAlchemyError) as problem:
        raise SystemExit(f"cannot reset the benchmark database ({problem.__class__.__name__}: {problem}); "
                         "create it first, e.g. su postgres -c \"createdb -O xaso xaso_bench\"") from problem
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------------------- users
@dataclass
class ChatUser:
    user_id: str
    headers: dict[str, str]
    rng: random.Random

    def next_body(self) -> bytes:
        return self.rng.choices(MESSAGE_BODIES, MESSAGE_WEIGHTS)[0]


async def create_session(client: aiohttp.ClientSession, base_url: str,
                         commune: str | None = None) -> dict[str, str] | None:
    """One web chat session (a villager of `commune` when given); None when the server limits session
    creation from this address."""
    body = {"language": "vi", **({"commune": commune} if commune else {})}
    async with client.post(f"{base_url}/api/chat/sessions", json=body) as response:
        if response.status == 429:
            return None
        response.raise_for_status()
        return dict(await response.json())


async def create_users(base_url: str, count: int, seed: int,
                       communes: Sequence[str] = ()) -> tuple[list[ChatUser], int]:
    """`count` sessions, spread over `communes` in turn when given. The server limits session creation
    per client address (20 at once, then one a second), so further sessions come from the next loopback
    source address (127.0.0.2, …), still to 127.0.0.1. Returns the users and how many source addresses
    were used."""
    users: list[ChatUser] = []
    source = 0
    while len(users) < count:
        source += 1
        if source > 254:
            raise RuntimeError("could not open enough web chat sessions")
        connector = aiohttp.TCPConnector(local_addr=(f"127.0.0.{source}", 0))
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
            while len(users) < count and (session := await create_session(
                    client, base_url, communes[len(users) % len(communes)] if communes else None)):
                headers = {"Authorization": f"Bearer {session['token']}",
                           "Content-Type": "application/json"}
                users.append(ChatUser(session["user_id"], headers, random.Random(seed + len(users))))
    return users, source


async def send(client: aiohttp.ClientSession, url: str, user: ChatUser) -> int:
    """Posts the user's next message; the HTTP status, 0 on a network error or timeout, and -1 when
    a 200 carries no replies."""
    try:
        async with client.post(url, data=user.next_body(), headers=user.headers) as response:
            body = await response.read()
    except (TimeoutError, aiohttp.ClientError):
        return 0
    if response.status == 200 and b'"replies"' not in body:
        return -1
    return response.status


# ------------------------------------------------------------------------------------------ phases
async def throughput_phase(client: aiohttp.ClientSession, server: Server, users: Sequence[ChatUser],
                           warmup: float, duration: float) -> dict[str, Any]:
    """Closed loop: each user sends again as soon as its reply is back. Counts what completes in the
    window after the warm-up."""
    url = f"{server.base_url}/api/chat/messages"
    samples = Samples()
    window_start = time.perf_counter() + warmup
    window_end = window_start + duration

    async def user_loop(user: ChatUser) -> None:
        while (started := time.perf_counter()) < window_end:
            status = await send(client, url, user)
            finished = time.perf_counter()
            if window_start <= finished <= window_end:
                samples.add(status, finished - started)

    loops = [asyncio.create_task(user_loop(user)) for user in users]
    await asyncio.sleep(max(0.0, window_start - time.perf_counter()))
    meter = CpuMeter(server.process.pid)
    await asyncio.sleep(max(0.0, window_end - time.perf_counter()))
    cpu = meter.shares()
    await asyncio.gather(*loops)
    return summarise("throughput", samples, duration, cpu, users=len(users), warmup_seconds=warmup)


async def latency_phase(client: aiohttp.ClientSession, server: Server, users: Sequence[ChatUser],
                        rate: float, duration: float) -> dict[str, Any]:
    """Open loop: message i is due at start + i / rate from user i mod len(users), whatever is still
    waiting for a reply. Latency counts from the due time."""
    url = f"{server.base_url}/api/chat/messages"
    samples = Samples()
    send_lags: list[float] = []

    async def timed_send(user: ChatUser, due: float) -> None:
        send_lags.append(time.perf_counter() - due)
        status = await send(client, url, user)
        samples.add(status, time.perf_counter() - due)

    meter = CpuMeter(server.process.pid)
    start = time.perf_counter() + 0.05
    tasks: list[asyncio.Task[None]] = []
    for index in range(int(rate * duration)):
        due = start + index / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(timed_send(users[index % len(users)], due)))
    await asyncio.gather(*tasks)
    result = summarise("latency", samples, duration, meter.shares(), target_rate=rate, users=len(users),
                       max_client_send_lag_ms=round(max(send_lags, default=0.0) * 1000, 1))
    result["offered_rate"] = round(len(tasks) / duration, 1)
    result["p99_below_target"] = result["p99_ms"] < P99_TARGET_MS and result["errors"] == 0
    return result


def profile_path(prefix: str | None, backend: str) -> Path | None:
    return Path(os.path.abspath(f"{prefix}.{backend}")) if prefix else None


async def run_backend(name: str, database_url: str | None, options: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"xaso-bench-{name}-") as temp:
        workdir = Path(temp)
        if database_url is None:
            database_url = f"sqlite+aiosqlite:///{workdir / 'xaso.db'}"
        else:
            log(f"[{name}] dropping and recreating the public schema")
            await reset_postgres(database_url)
        cprofile = profile_path(options.cprofile, name)
        log(f"[{name}] starting xaso serve in {workdir}")
        async with running_server(server_environment(database_url), workdir, cprofile) as server:
            log(f"[{name}] server pid {server.process.pid} healthy at {server.base_url}")
            result = await run_phases(name, server, options)
        result["server_exit_code"] = server.process.returncode
        result["server_log_errors"] = logged_errors(server)
        if options.ceiling:
            if database_url.startswith("sqlite"):  # its own file, with the same engine settings
                database_url = f"sqlite+aiosqlite:///{workdir / 'ceiling.db'}"
            log(f"[{name}] starting the ceiling app (bench/ceiling.py) on the same database")
            async with running_server(server_environment(database_url), workdir, ceiling=True) as ceiling:
                result["ceiling"] = await run_phases(name, ceiling, options)
            result["ceiling"]["server_log_errors"] = logged_errors(ceiling)
            result["ceiling_ratio"] = ceiling_ratio(result)
        return result


async def run_phases(name: str, server: Server, options: argparse.Namespace) -> dict[str, Any]:
    users, sources = await create_users(server.base_url, options.users, options.seed)
    connector = aiohttp.TCPConnector(limit=CLIENT_CONNECTIONS, limit_per_host=CLIENT_CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:
        log(f"[{name}] throughput: {len(users)} users, {options.warmup:g} s warm-up + "
            f"{options.duration:g} s")
        throughput = await throughput_phase(client, server, users, options.warmup, options.duration)
        await asyncio.sleep(SETTLE_SECONDS)
        log(f"[{name}] latency: {options.rate:g} messages/s for {options.latency_duration:g} s")
        latency = await latency_phase(client, server, users, options.rate, options.latency_duration)
    return {"backend": name, "session_source_addresses": sources, "throughput": throughput,
            "latency": latency}


# ------------------------------------------------------------------------------------------ output
def notes() -> list[str]:
    return [
        f"per-user rate limit raised to {RATE_LIMIT_PER_MINUTE}/min, burst {RATE_LIMIT_BURST} "
        "(XASO_RATE_LIMIT_PER_MINUTE / XASO_RATE_LIMIT_BURST) so the flood limit does not throttle "
        "the benchmark users",
        f"load generator in the same process as the benchmark, on the same {os.cpu_count()} CPU cores "
        "as the server: they compete for CPU (cpu = cores busy in the server / the load generator / "
        "the whole machine, database included)",
        "latency phase: open loop, latency counted from each message's scheduled send time",
    ]


def table(results: Sequence[dict[str, Any]]) -> str:
    header = (f"{'backend':<11}{'app':<9}{'phase':<22}{'msgs':>7}{'msg/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
              f"{'max ms':>8}{'errors':>7}{'cpu ms/msg':>11}{'cpu srv/cli/all':>17}")
    lines = [header, "-" * len(header)]
    for result in results:
        for app, phases in (("xaso", result), ("ceiling", result.get("ceiling"))):
            if phases is None:
                continue
            for key, label in (("throughput", f"throughput {phases['throughput']['seconds']:g} s"),
                               ("latency", f"{phases['latency']['target_rate']:g} msg/s open loop")):
                lines.append(row(result["backend"], app, label, phases[key]))
    for result in results:
        latency = result["latency"]
        verdict = "yes" if latency["p99_below_target"] else "NO"
        lines.append(f"{result['backend']}: p99 < {P99_TARGET_MS:g} ms at {latency['target_rate']:g} "
                     f"msg/s: {verdict}")
        if (ratio := result.get("ceiling_ratio")) is not None:
            lines.append(f"{result['backend']}: xaso / ceiling, closed loop: {ratio['throughput']:.2f} of "
                         f"its msg/s, {ratio['cpu']:.2f}× its server CPU per message")
    return "\n".join([*lines, *(f"note: {note}" for note in notes())])


def ceiling_ratio(result: dict[str, Any]) -> dict[str, float] | None:
    """xaso's closed-loop msg/s as a fraction of the ceiling's, and its CPU per message as a multiple."""
    ceiling = result.get("ceiling")
    if ceiling is None:
        return None
    ours, theirs = result["throughput"], ceiling["throughput"]
    if not theirs["messages_per_second"] or not ours["server_cpu_ms_per_message"] \
            or not theirs["server_cpu_ms_per_message"]:
        return None
    return {"throughput": ours["messages_per_second"] / theirs["messages_per_second"],
            "cpu": ours["server_cpu_ms_per_message"] / theirs["server_cpu_ms_per_message"]}


def row(backend: str, app: str, label: str, phase: dict[str, Any]) -> str:
    cpu = "/".join(f"{phase[f'{name}_cpu_cores'] or 0:.2f}" for name in ("server", "client", "machine"))
    timings = "".join(f"{phase[column]:>8.1f}" for column in TIMING_COLUMNS)
    per_message = phase.get("server_cpu_ms_per_message")
    return (f"{backend:<11}{app:<9}{label:<22}{phase['messages']:>7}{phase['messages_per_second']:>8.1f}"
            f"{timings}{phase['errors']:>7}{per_message or 0:>11.2f}{cpu:>17}")


# -------------------------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.webchat", description=DESCRIPTION)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES_URL,
                        help="PostgreSQL URL (its public schema is dropped!); default %(default)s")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before the throughput window")
    parser.add_argument("--duration", type=float, default=20.0, help="throughput window, seconds")
    parser.add_argument("--rate", type=float, default=100.0, help="open-loop messages per second")
    parser.add_argument("--latency-duration", type=float, default=15.0, help="open-loop phase, seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cprofile", default=None, metavar="PREFIX",
                        help="run the server under cProfile, writing PREFIX.<backend>")
    parser.add_argument("--no-ceiling", dest="ceiling", action="store_false",
                        help="skip the ceiling app (bench/ceiling.py) run after xaso on each backend")
    parser.add_argument("--json", action="store_true", help="print one JSON object with all figures")
    options = parser.parse_args(argv)
    if options.users < 1 or options.rate <= 0 or options.duration <= 0 or options.latency_duration <= 0:
        parser.error("--users, --rate, --duration and --latency-duration must be positive")
    return options


def backends(options: argparse.Namespace) -> list[tuple[str, str | None]]:
    chosen = ("sqlite", "postgresql") if options.backend == "both" else (options.backend,)
    if "postgresql" in chosen:
        check_loopback(options.database_url)
    return [(name, options.database_url if name == "postgresql" else None) for name in chosen]


async def run(options: argparse.Namespace) -> list[dict[str, Any]] | None:
    """All the chosen backends; None when interrupted (SIGINT or SIGTERM), the server stopped anyway."""
    cancel_on_signals(asyncio.current_task())
    try:
        return [await run_backend(name, url, options) for name, url in backends(options)]
    except asyncio.CancelledError:
        log("interrupted: server stopped")
        return None


def cancel_on_signals(task: asyncio.Task[Any] | None) -> None:
    """SIGINT and SIGTERM cancel the benchmark, so that `finally` blocks stop the server."""
    if task is None:
        return
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, task.cancel)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    results = asyncio.run(run(options))
    if results is None:
        return 130
    if options.json:
        config = {key: value for key, value in vars(options).items() if key != "json"}
        config["database_url"] = config["database_url"].split("@")[-1]  # no password in the output
        print(json.dumps({"config": config, "cpu_count": os.cpu_count(), "notes": notes(),
                          "p99_target_ms": P99_TARGET_MS, "results": results}, ensure_ascii=False))
    else:
        print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
