"""`xaso invite seller --seller ID [--commune CODE]`: a seller invite tied to one seller of that commune's
products.yml (data/communes/<CODE>/products.yml), its role scoped to that commune; and `xaso invite host
--stay ID`, a host invite tied to one homestay of its tourism/stays.yml."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

from backends.shop.catalogue import load_shop
from backends.shop.sellers import create_seller_invite
from core.audit import AuditLog
from core.config import Settings
from core.crypto import Hasher
from core.province import commune_path

WithDatabase = Callable[[Callable[[Any], Awaitable[int]]], Awaitable[int]]
# (session, hasher, the seller's or stay's id, created_by=, commune=) → the invite's code
MakeInvite = Callable[..., Awaitable[str]]


async def _linked_invite(settings: Settings, with_database: WithDatabase, make_invite: MakeInvite,
                         target: str, commune: str | None, audited: dict[str, str], whom: str) -> int:
    """Makes an invite whose /join links the account to `target`, audits it, prints how to use it."""
    async def make(database: Any) -> int:
        async with database.session() as session:
            code = await make_invite(session, Hasher(settings.secret()), target, created_by="cli",
                                     commune=commune)
        await AuditLog(database).record("cli", "role.invite", detail=audited)
        print(f"One-time invite for {whom} (valid 7 days). Send in any chat: /join {code}")
        print(code)
        return 0

    return await with_database(make)


async def invite_seller(settings: Settings, role: str, seller_id: str, with_database: WithDatabase,
                        commune: str | None = None) -> int:
    """A seller of `commune`'s products.yml (the installation's own commune by default)."""
    if role != "seller":
        print("--seller goes with the role seller", file=sys.stderr)
        return 2
    catalogue = commune_path(settings.data_dir, commune or settings.commune_code, "products.yml")
    sellers = load_shop(catalogue).sellers
    if seller_id not in sellers:
        print(f"unknown seller {seller_id!r}; choose one of: {', '.join(sellers)}", file=sys.stderr)
        return 2
    whom = f"the seller «{sellers[seller_id].name}»"
    return await _linked_invite(settings, with_database, create_seller_invite, seller_id, commune,
                                {"role": role, "seller": seller_id}, whom)


async def invite_host(settings: Settings, role: str, stay_id: str, with_database: WithDatabase,
                      commune: str | None = None) -> int:
    """A host of a homestay of `commune`'s tourism/stays.yml (the installation's own by default)."""
    from backends.tourism.hosts import create_host_invite
    from backends.tourism.places import load_tourism

    if role != "host":
        print("--stay goes with the role host", file=sys.stderr)
        return 2
    commune = commune or settings.commune_code
    stays = load_tourism(commune_path(settings.data_dir, commune, "tourism")).stays
    if stay_id not in stays:
        print(f"unknown homestay {stay_id!r}; choose one of: {', '.join(stays) or '(none listed)'}",
              file=sys.stderr)
        return 2
    whom = f"the host of «{stays[stay_id].name['vi']}»"
    return await _linked_invite(settings, with_database, create_host_invite, stay_id, commune,
                                {"role": role, "stay": stay_id}, whom)
