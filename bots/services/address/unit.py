"""Digital address codes: a shared location becomes a code and the hamlet it falls in."""

from __future__ import annotations

from bots.dialogue.service import MenuEntry, Service
from bots.services.address import flows, holdings
from bots.services.kit import Kit

# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ("backends.addresses.store",)


def service(kit: Kit) -> Service:
    return Service(
        name="address",
        intents={"address_code": flows.address_code},
        media={"location": flows.location},
        menu=(MenuEntry("address_code", 110),),
        i18n=("address.",),
        holdings=holdings.HOLDINGS,
    )
