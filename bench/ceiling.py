"""The ceiling: what a minimal aiohttp + SQLAlchemy app costs for what one web chat message must write.

`bench/webchat.py` drives this app with the same load generator, on the same database, in the same
run as `xaso serve`, and prints both side by side (messages per second, server CPU milliseconds per
message, and their ratio). The machine is noisy; the ratio and the CPU per message are the figures.

Per message the app does the least a chat service can: the session token is looked up in memory
(xaso caches its sessions too), then one transaction writes four rows — the message received, the
conversation state (an upsert), an audit entry and the reply (an outbox-like row) — and the reply
goes back as JSON. Statements are built once. The engine is xaso's own `core.db.Database` (the same
pool, SQLite pragmas and driver) and the event loop the one `xaso serve` runs on, so the ratio
measures what xaso's own work adds on top.

    .venv/bin/python -m bench.ceiling --database-url sqlite+aiosqlite:////tmp/c.db --port 8765
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import signal
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, bindparam, insert
from sqlalchemy.dialects import postgresql, sqlite

from bots.http_server import new_event_loop
from core.db import Database

metadata = MetaData()
users = Table("ceiling_users", metadata, Column("id", Integer, primary_key=True),
              Column("external_id", String(64), unique=True), Column("token_hash", String(64), unique=True))
inbound = Table("ceiling_inbound", metadata, Column("id", Integer, primary_key=True),
                Column("user_id", Integer, index=True), Column("body", JSON), Column("at", DateTime))
states = Table("ceiling_states", metadata, Column("user_id", Integer, primary_key=True),
               Column("data", JSON), Column("updated_at", DateTime))
audit = Table("ceiling_audit", metadata, Column("id", Integer, primary_key=True),
              Column("actor", String(64)), Column("action", String(64)), Column("digest", String(64)),
              Column("at", DateTime))
replies = Table("ceiling_replies", metadata, Column("id", Integer, primary_key=True),
                Column("user_id", Integer, index=True), Column("payload", JSON), Column("at", DateTime))

REPLY = {"text": "Dạ, xã đã nhận tin nhắn của bác.", "buttons": []}


class Ceiling:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.sessions: dict[str, int] = {}
        upsert = postgresql.insert if not database.is_sqlite else sqlite.insert
        state = upsert(states).values(user_id=bindparam("user_id"), data=bindparam("data"),
                                      updated_at=bindparam("at"))
        self.save_state = state.on_conflict_do_update(
            index_elements=[states.c.user_id], set_={"data": state.excluded.data,
                                                     "updated_at": state.excluded.updated_at})
        self.add_inbound = insert(inbound)
        self.add_audit = insert(audit)
        self.add_reply = insert(replies)

    async def start(self) -> None:
        async with self.database.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)

    async def create_session(self, request: web.Request) -> web.Response:
        token = secrets.token_urlsafe(32)
        digest = hashlib.sha256(token.encode()).hexdigest()
        external_id = uuid.uuid4().hex
        async with self.database.engine.begin() as connection:
            result = await connection.execute(insert(users).values(external_id=external_id,
                                                                   token_hash=digest))
            self.sessions[digest] = int(result.inserted_primary_key[0])  # type: ignore[index]
        return web.json_response({"token": token, "user_id": external_id})

    async def post_message(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").partition(" ")[2]
        user_id = self.sessions.get(hashlib.sha256(token.encode()).hexdigest())
        if user_id is None:
            return web.json_response({"error": "unauthorized"}, status=401)
        body = json.loads(await request.read())
        now = datetime.now(UTC).replace(tzinfo=None)
        content = body.get("text") or body.get("button") or ""
        async with self.database.engine.begin() as connection:
            await connection.execute(self.add_inbound, {"user_id": user_id, "body": body, "at": now})
            await connection.execute(self.save_state, {"user_id": user_id, "data": {"last": content[:64]},
                                                       "at": now})
            await connection.execute(self.add_audit, {
                "actor": f"user:{user_id}", "action": "message.text",
                "digest": hashlib.sha256(content.encode()).hexdigest()[:16], "at": now})
            await connection.execute(self.add_reply, {"user_id": user_id, "payload": REPLY, "at": now})
        return web.json_response({"replies": [REPLY]}, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def create_app(database: Database) -> web.Application:
    ceiling = Ceiling(database)
    app = web.Application()
    app.router.add_post("/api/chat/sessions", ceiling.create_session)
    app.router.add_post("/api/chat/messages", ceiling.post_message)
    app.router.add_get("/healthz", lambda _request: _ok())

    async def lifecycle(_app: web.Application) -> Any:
        await ceiling.start()
        yield
        await database.close()

    app.cleanup_ctx.append(lifecycle)
    return app


async def _ok() -> web.Response:
    return web.json_response({"ok": True})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # The event loop `xaso serve` runs on (uvloop where installed, unless XASO_UVLOOP is false), so that
    # the comparison is of the work, not of the loops.
    loop, _kind = new_event_loop(os.environ.get("XASO_UVLOOP", "true").lower() not in ("0", "false", "no"))
    web.run_app(create_app(Database(options.database_url)), host=options.host, port=options.port,
                access_log=None, print=None, loop=loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
