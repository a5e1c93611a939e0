"""The «🔊 Nghe» button under every long answer: the text read aloud (backends/loudspeaker/tts.py)."""

from __future__ import annotations

from bots.dialogue.service import Buttons, Service
from bots.services.kit import Kit
from bots.services.listen.button import FAMILY, add_buttons, listen
from core.roles import PUBLIC

# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ()


def service(kit: Kit) -> Service:
    # Anywhere: an open form stays as it is while its summary is read aloud. The data is a digest, not an
    # action: the family's handler reads it.
    return Service(name="listen", buttons=(Buttons(FAMILY, PUBLIC, handler=listen, anywhere=True),),
                   finishers=(add_buttons,))
