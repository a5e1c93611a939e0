"""Roles granted per commune (core/identity.py): a role applies while its holder is in the commune it
was granted for; an invite names its commune and moves its holder there; notices go to that commune's
staff only."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.crypto import Hasher
from core.db import Database
from core.identity import (
    CITIZEN,
    IdentityCache,
    create_invite,
    find_user,
    grant_role,
    redeem_invite,
    resolve_user,
    role_holders,
    set_commune,
)
from core.models import Invite, UserRole

HASHER = Hasher(b"test")


async def test_an_invite_for_a_commune_grants_the_role_there_only(database: Database) -> None:
    async with database.session() as session:
        official = await resolve_user(session, "telegram", "1", commune="LB")
        code = await create_invite(session, HASHER, "official", "admin", commune="SM")
    async with database.session() as session:
        outcome = await redeem_invite(session, HASHER, code, official.id)
    assert outcome.ok and (outcome.role, outcome.commune) == ("official", "SM")
    async with database.session() as session:
        joined = await find_user(session, "telegram", "1")
    assert joined is not None and joined.commune == "SM" and "official" in joined.roles
    async with database.session() as session:
        await set_commune(session, official.id, "LB")  # chose another commune: not staff there
        moved = await find_user(session, "telegram", "1")
    assert moved is not None and moved.roles == frozenset({CITIZEN})


async def test_a_role_for_every_commune_applies_in_each(database: Database) -> None:
    async with database.session() as session:
        user = await resolve_user(session, "telegram", "2", commune="LB")
        await grant_role(session, user.id, "province", "cli")
        await set_commune(session, user.id, "SM")
        found = await find_user(session, "telegram", "2")
    assert found is not None and "province" in found.roles


async def test_a_cached_identity_changes_with_its_commune(database: Database) -> None:
    cache = IdentityCache()
    async with database.session() as session:
        user = await resolve_user(session, "zalo", "3", commune="SM")
        await grant_role(session, user.id, "doctor", "cli", commune="SM")
    async with database.session() as session:
        assert "doctor" in (await find_user(session, "zalo", "3", cache)).roles  # type: ignore[union-attr]
        await set_commune(session, user.id, "LB")
    async with database.session() as session:
        again = await find_user(session, "zalo", "3", cache)
    assert again is not None and again.commune == "LB" and "doctor" not in again.roles


async def test_notices_go_to_the_staff_of_the_commune(database: Database) -> None:
    async with database.session() as session:
        la_bang = await resolve_user(session, "telegram", "10", commune="LB")
        sang_moc = await resolve_user(session, "telegram", "11", commune="SM")
        everywhere = await resolve_user(session, "telegram", "12")
        await grant_role(session, la_bang.id, "official", "cli", commune="LB")
        await grant_role(session, sang_moc.id, "official", "cli", commune="SM")
        await grant_role(session, everywhere.id, "official", "cli")
        for commune, expected in (("LB", {la_bang.id, everywhere.id}), ("SM", {sang_moc.id, everywhere.id}),
                                  (None, {la_bang.id, sang_moc.id, everywhere.id})):
            holders = await role_holders(session, "official", commune=commune)
            assert {user.id for user in holders} == expected, commune


async def test_roles_granted_without_a_commune_become_the_installations_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Migration 0023: on a commune's own installation a role (or an unused invite) without a commune
    was one of that commune's; once the installation serves a province it must not become a role in
    every commune. The province's role stays everywhere."""
    monkeypatch.setenv("XASO_COMMUNE_CODE", "LB")
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'before.db'}")  # its own schema, at 0022
    try:
        await database.upgrade("0022")
        async with database.session() as session:
            official = await resolve_user(session, "telegram", "5", commune="LB")
            watcher = await resolve_user(session, "telegram", "6", commune="LB")
            await grant_role(session, official.id, "staff", "cli")
            await grant_role(session, watcher.id, "province", "cli")
            await create_invite(session, HASHER, "admin", "first-start")
        await database.upgrade()
        async with database.session() as session:
            roles = {(row.role, row.commune) for row in await session.scalars(select(UserRole))}
            invites = {(row.role, row.commune) for row in await session.scalars(select(Invite))}
            await set_commune(session, official.id, "SM")
            await set_commune(session, watcher.id, "SM")
            moved = await find_user(session, "telegram", "5")
            province = await find_user(session, "telegram", "6")
        assert roles == {("staff", "LB"), ("province", None)} and invites == {("admin", "LB")}
        assert moved is not None and moved.roles == frozenset({CITIZEN})
        assert province is not None and "province" in province.roles
    finally:
        await database.close()
