"""What the address service keeps about a villager, declared for the account's /mydata
(bots/services/account/): their saved address code and hamlet (the export). The row goes with the
account (the database cascades it), so there is no step of the erasure here."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from backends.addresses.store import saved_address
from bots.dialogue.base import Context
from bots.dialogue.service import Holdings

POSITION = 50


async def export(context: Context) -> dict[str, Any] | None:
    saved = await saved_address(context.session, context.services.cipher, context.identity.id)
    return asdict(saved) if saved else None


HOLDINGS = Holdings(position=POSITION, export={"address_code": export})
