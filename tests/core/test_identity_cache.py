"""A known user costs no query; whatever changes an identity is seen at once here and within a second
on another node."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, update

from core.counters import next_number
from core.db import Database
from core.identity import (
    IdentityCache,
    find_user,
    grant_role,
    resolve_user,
    revoke_roles,
    set_commune,
    set_language,
)
from core.models import User, UserRole, utcnow


def count_statements(database: Database) -> list[str]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", record)
    return seen


async def test_a_known_user_is_served_from_the_cache(database: Database) -> None:
    cache = IdentityCache()
    async with database.session() as session:
        # Created: not remembered yet.
        await resolve_user(session, "telegram", "42", "vi", None, cache, commune="LB")
    async with database.session() as session:
        first = await find_user(session, "telegram", "42", cache)
    statements = count_statements(database)
    async with database.session() as session:
        again = await find_user(session, "telegram", "42", cache)
    assert again == first
    assert statements == []


async def test_a_role_granted_or_revoked_is_seen_at_once(database: Database) -> None:
    cache = IdentityCache()
    async with database.session() as session:
        user = await resolve_user(session, "telegram", "7", "vi", None, cache, commune="LB")
        await grant_role(session, user.id, "official", granted_by="test")
    async with database.session() as session:
        identity = await find_user(session, "telegram", "7", cache)
        assert identity is not None and "official" in identity.roles
        await revoke_roles(session, user.id, "official")
    async with database.session() as session:
        identity = await find_user(session, "telegram", "7", cache)
        assert identity is not None and "official" not in identity.roles


async def test_a_language_change_is_seen_at_once(database: Database) -> None:
    cache = IdentityCache()
    async with database.session() as session:
        user = await resolve_user(session, "web", "u1", "vi", None, cache, commune="LB")
        await set_language(session, user.id, "en")
    async with database.session() as session:
        identity = await find_user(session, "web", "u1", cache)
    assert identity is not None and identity.language == "en"


async def test_a_change_made_by_another_process_is_seen_at_the_next_check(database: Database) -> None:
    here = IdentityCache()
    async with database.session() as session:
        user = await resolve_user(session, "telegram", "9", "vi", None, here, commune="LB")
    async with database.session() as session:
        await here.check_epoch(session)  # the counter as it stands
        await find_user(session, "telegram", "9", here)
    # Another process grants a role and bumps the counter; the caches of this one are not told.
    async with database.session() as session:
        session.add(UserRole(user_id=user.id, role="doctor", granted_by="elsewhere"))
        await next_number(session, "identities")
    async with database.session() as session:
        stale = await find_user(session, "telegram", "9", here)
        assert stale is not None and "doctor" not in stale.roles
        await here.check_epoch(session)
        fresh = await find_user(session, "telegram", "9", here)
    assert fresh is not None and "doctor" in fresh.roles


async def test_watch_checks_every_interval_until_stopped(database: Database) -> None:
    cache = IdentityCache()
    async with database.session() as session:
        user = await resolve_user(session, "telegram", "5", "vi", None, cache, commune="LB")
    stop = asyncio.Event()
    watching = asyncio.create_task(cache.watch(database.session, stop, every=0.05))
    await asyncio.sleep(0.1)
    cache.put(user, utcnow())
    async with database.session() as session:
        await next_number(session, "identities")  # as another process's change does
    await asyncio.sleep(0.2)
    assert cache.get("telegram", "5") is None
    stop.set()
    await asyncio.wait_for(watching, 1)


async def test_entries_expire_and_the_oldest_go_first(database: Database) -> None:
    now = [0.0]
    cache = IdentityCache(lifetime=10, size=2, clock=lambda: now[0])
    async with database.session() as session:
        users = [await resolve_user(session, "telegram", str(n), "vi", None, commune="LB") for n in range(3)]
    for user in users:
        cache.put(user, utcnow())
    assert cache.get("telegram", "0") is None  # the oldest made room
    assert cache.get("telegram", "2") is not None
    now[0] = 11
    assert cache.get("telegram", "2") is None


async def test_a_newcomer_who_has_not_chosen_a_commune_is_not_remembered(database: Database) -> None:
    """A province's newcomer may choose their commune through another node: their next message, on
    any node, must be answered as the commune's, not a second later."""
    here = IdentityCache()
    async with database.session() as session:
        user = await resolve_user(session, "telegram", "11", "vi", None, here)
    async with database.session() as session:
        await here.check_epoch(session)
        newcomer = await find_user(session, "telegram", "11", here)
    assert newcomer is not None and newcomer.commune is None
    assert here.get("telegram", "11") is None
    async with database.session() as session:  # chosen on another node: this cache is not told
        await session.execute(update(User).where(User.id == user.id).values(commune="SM"))
        await next_number(session, "identities")
    async with database.session() as session:
        chosen = await find_user(session, "telegram", "11", here)
    assert chosen is not None and chosen.commune == "SM"
    assert here.get("telegram", "11") is not None  # from now on remembered
    async with database.session() as session:
        await set_commune(session, user.id, "LB")
    async with database.session() as session:
        moved = await find_user(session, "telegram", "11", here)
    assert moved is not None and moved.commune == "LB"
