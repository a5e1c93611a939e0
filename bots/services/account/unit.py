"""The citizen's own account: roles by invite (/invite, /join, /revoke), consent, phone number, and
/mydata (see, export, withdraw, delete)."""

from __future__ import annotations

from bots.dialogue.service import Buttons, Command, MenuEntry, Role, Service
from bots.services.account import flows
from bots.services.account.erasure import Erasure
from bots.services.kit import Kit
from core.roles import PUBLIC, only

# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ()


def service(kit: Kit) -> Service:
    erasure = Erasure()
    return Service(
        name="account",
        commands=(Command("/join", PUBLIC, flows.join), Command("/invite", only("admin"), flows.invite),
                  Command("/revoke", only("admin"), flows.revoke), Command("/mydata", PUBLIC, flows.my_data)),
        intents={"my_data": flows.my_data},
        # An unknown action gets the menu's polite answer (its fallback); /mydata's actions take no argument.
        buttons=(Buttons("mydata", PUBLIC, actions={
                     "export": flows.exact(flows.export), "withdraw": flows.exact(flows.withdraw),
                     "delete": flows.exact(erasure.ask), "delete-confirm": flows.exact(erasure.erase),
                     "keep": flows.exact(flows.keep)}),
                 Buttons("consent", PUBLIC, actions={"yes": flows.consent_yes, "no": flows.consent_no})),
        media={"contact": flows.contact},
        menu=(MenuEntry("my_data", 130),),
        # province: the province's staff, who see every commune's figures and records, read-only
        # (granted from the server only: `xaso invite province`).
        roles=(Role("staff"), Role("admin"), Role("province")),
        events={"role.join": "roles_joined", "mydata.export": "exports", "mydata.delete": "deletions"},
        i18n=("consent.", "contact.", "invite.", "join.", "mydata.", "revoke.", "role."),
        holdings=flows.HOLDINGS,  # its own part of the export; the other services declare theirs
        desk=erasure,
    )
