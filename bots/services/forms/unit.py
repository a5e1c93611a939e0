"""The form engine's conversation (bots/dialogue/forms.py): every service that asks questions field by
field (dossiers, consults) opens a form; this unit owns its state and strings."""

from __future__ import annotations

from bots.dialogue.forms import FLOW
from bots.dialogue.service import Service
from bots.services.kit import Kit

# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ()


def service(kit: Kit) -> Service:
    # The form engine reads each typed answer by its field's type, so the router leaves it as text.
    return Service(name="forms", states={FLOW: kit.forms.handle}, reads_typed=(FLOW,),
                   i18n=("form.", "validate."))
