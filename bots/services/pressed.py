"""The button a handler runs for, in its parts: the router dispatches `family:action[:args]` to the
action's handler (bots/dialogue/service.py `Buttons`), which reads its argument here."""

from __future__ import annotations

from bots.dialogue.base import Context, Press

_NOTHING = Press("", "", "")


def pressed(context: Context) -> Press:
    """The press being handled; an empty one when the message is not a press, so that a handler reached
    some other way reads no argument (and answers as to a bad one) rather than failing."""
    return context.press or _NOTHING
