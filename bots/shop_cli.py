"""`xaso invite seller --seller ID [--commune CODE]`: a seller invite tied to one seller of that commune's
products.yml (data/communes/<CODE>/products.yml), its role scoped to that commune."""

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


async def invite_seller(settings: Settings, role: str, seller_id: str,
                        with_database: Callable[[Callable[[Any], Awaitable[int]]], Awaitable[int]],
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

    async def make(database: Any) -> int:
        async with database.session() as session:
            code = await create_seller_invite(session, Hasher(settings.secret()), seller_id, created_by="cli",
                                              commune=commune)
        await AuditLog(database).record("cli", "role.invite", detail={"role": role, "seller": seller_id})
        print(f"One-time invite for the seller «{sellers[seller_id].name}» (valid 7 days). "
              f"Send in any chat: /join {code}")
        print(code)
        return 0

    return await with_database(make)
