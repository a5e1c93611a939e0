"""What the village reports keep about a villager, declared for the account's /mydata
(bots/services/account/): the reports they made or joined, as they wrote them (the export). On erasure
the reports stay (the commune still has to fix the road) without the person (backends/reports/store.py
`forget_user`); their count goes into the account's `mydata.delete` audit record."""

from __future__ import annotations

from typing import Any

from backends.reports.store import export_user, forget_user
from bots.dialogue.base import Context
from bots.dialogue.service import Erased, Holdings

# Nothing of theirs is listed in the warning or the farewell: after the dossiers, at the end.
POSITION = 40


async def export(context: Context) -> list[dict[str, Any]]:
    return await export_user(context.session, context.services.cipher, context.identity.id)


async def erase(context: Context) -> Erased:
    reports = await forget_user(context.session, context.identity.id)
    return Erased(audited={"reports": reports} if reports else {})


HOLDINGS = Holdings(position=POSITION, export={"reports": export}, erase=erase)
