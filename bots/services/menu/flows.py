"""The social turns, the menu of services, and honest answers for services not built yet."""

from __future__ import annotations

import re

from bots.dialogue.base import Context, FlowHandler
from bots.dialogue.menu import menu_reply, with_menu
from core.identity import set_language
from core.messages import Button, Reply
from core.roles import command_name

_WORDLESS = re.compile(r"[\W_\d]*", re.UNICODE)


async def start(context: Context) -> list[Reply]:
    name = context.incoming.display_name
    greeting = context.t("greet", name=f" {name}" if name else "",
                         commune=context.services.commune.name)
    return [with_menu(context, greeting)]


async def goodbye(context: Context) -> list[Reply]:
    return [Reply(context.t("goodbye"), (Button(context.t("button.menu"), "menu:help"),))]


async def thanks(context: Context) -> list[Reply]:
    return [Reply(context.t("thanks"), (Button(context.t("button.menu"), "menu:help"),))]


def role_desks(context: Context) -> list[Reply]:
    """A reply per role the user holds (an administrator sees every desk): its commands and the
    buttons the services declared for it (`DeskButton`)."""
    identity = context.identity
    assembly = context.assembly
    desks = assembly.desk_buttons if assembly is not None else {}
    return [Reply(context.t(f"help.{role}"), tuple(Button(context.t(b.label), b.data) for b in buttons))
            for role, buttons in desks.items() if role in identity.roles or "admin" in identity.roles]


async def show_help(context: Context) -> list[Reply]:
    return [*role_desks(context), menu_reply(context)]


async def cancel(context: Context) -> list[Reply]:
    context.set_state(None)
    return [menu_reply(context, "cancelled")]


async def out_of_scope(context: Context) -> list[Reply]:
    text = (context.incoming.text or "").strip()
    key = "empty" if not text or _WORDLESS.fullmatch(text) else "out_of_scope"
    return [menu_reply(context, key)]


async def unknown_command(context: Context) -> list[Reply]:
    command = command_name(context.incoming.text or "") or "?"
    return [with_menu(context, context.t("unknown_command", command=command[:32]))]


async def unknown_button(context: Context) -> list[Reply]:
    return [menu_reply(context, "unknown_button")]


async def call(context: Context) -> list[Reply]:
    """A call button pressed where the channel cannot dial (Telegram): the number, written to tap."""
    press = context.press
    number = f"{press.action}:{press.arg}".rstrip(":") if press is not None else ""
    if not number or not all(ch.isdigit() or ch == "+" for ch in number) or len(number) > 16:
        return [Reply(context.t("unknown_button"))]
    return [Reply(context.t("emergency.dial", number=number))]


HEALTH_SERVICES = frozenset({"doctor_ask", "doctor_appointment"})  # the station helps meanwhile


def coming_soon(intent: str) -> FlowHandler:
    """Honest about what is not built yet, and says who can help meanwhile: the health station for
    health questions, the commune office for everything else."""

    async def answer(context: Context) -> list[Reply]:
        commune = context.services.commune
        if intent in HEALTH_SERVICES:
            station = commune.health_station
            text = context.t("coming_soon_health", service=context.t(f"menu.{intent}"),
                             station=station.name, station_phone=station.phone)
        else:
            office = commune.office
            text = context.t("coming_soon", service=context.t(f"menu.{intent}"),
                             office_address=office.address, office_phone=office.phone,
                             office_hours=office.hours)
        return [with_menu(context, text)]
    return answer


async def set_lang(context: Context) -> list[Reply]:
    wanted = context.args.lower()[:2]
    if wanted not in ("vi", "en"):
        return [Reply(context.t("language_usage"))]
    await set_language(context.session, context.identity.id, wanted)
    context.extras["lang"] = wanted
    return [menu_reply(context, "language_set")]


async def location(context: Context) -> list[Reply]:
    return [menu_reply(context, "location_received")]


async def attachment(context: Context) -> list[Reply]:
    return [menu_reply(context, "attachment_received")]


async def voice(context: Context) -> list[Reply]:
    return [menu_reply(context, "voice_unsupported")]


