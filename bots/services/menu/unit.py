"""The social turns (hello, thanks, goodbye), /start, /help, /cancel, /lang, the main menu's buttons,
and the answers when nothing else applies. Last in the assembly: it only fills in what is left."""

from __future__ import annotations

from bots.dialogue.base import Context
from bots.dialogue.menu import emergency, menu_intents
from bots.dialogue.service import Buttons, Command, Fallbacks, Service
from bots.services.kit import Kit
from bots.services.menu import flows
from core.messages import Reply
from core.roles import PUBLIC

# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ()


async def menu_button(context: Context) -> list[Reply]:
    """`menu:<intent>`: the service behind a menu entry (or the help)."""
    press = context.press
    intent = press.action if press is not None else ""
    handler = context.intent_handler(intent) if intent in (*menu_intents(context), "help") else None
    return await (handler or flows.unknown_button)(context)


def service(kit: Kit) -> Service:
    return Service(
        name="menu",
        commands=(Command("/start", PUBLIC, flows.start), Command("/help", PUBLIC, flows.show_help),
                  Command("/menu", PUBLIC, flows.show_help), Command("/cancel", PUBLIC, flows.cancel),
                  Command("/lang", PUBLIC, flows.set_lang)),
        intents={"greet": flows.start, "goodbye": flows.goodbye, "thanks": flows.thanks,
                 "help": flows.show_help, "out_of_scope": flows.out_of_scope},
        defaults={"emergency": emergency},  # the health service adds the alerts to it
        media={"location": flows.location, "attachment": flows.attachment, "voice": flows.voice},
        buttons=(Buttons("menu", PUBLIC, handler=menu_button),
                 Buttons("call", PUBLIC, handler=flows.call, anywhere=True)),
        fallbacks=Fallbacks(text=flows.out_of_scope, command=flows.unknown_command,
                            button=flows.unknown_button, unbuilt=flows.coming_soon),
    )
