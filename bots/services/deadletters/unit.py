"""Messages the outbox gave up on, for the administrator: /deadletters lists them, a button replays."""

from __future__ import annotations

from bots.dialogue.service import Buttons, Command, DeskButton, Service
from bots.services.deadletters.desk import FAMILY, DeadLetterDesk
from bots.services.kit import Kit
from core.roles import only

# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ()


def service(kit: Kit) -> Service:
    desk = DeadLetterDesk()
    return Service(
        name="deadletters",
        commands=(Command("/deadletters", only("admin"), desk.command),),
        buttons=(Buttons(FAMILY, only("admin"), actions={"list": desk.command, "replay": desk.replay},
                         handler=desk.unknown),),
        desk_buttons=(DeskButton("admin", "help.admin.button.deadletters", f"{FAMILY}:list"),),
        i18n=("deadletters.",),
        desk=desk,
    )
