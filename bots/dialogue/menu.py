"""The social turns, the menu of services, and honest answers for services not built yet."""

from __future__ import annotations

import re

from bots.dialogue.base import Context, FlowHandler, Router
from core.identity import set_language
from core.messages import Button, Reply, call_button
from core.roles import COMMAND_ROLES, command_name

# Every service the assistant offers, in menu order.
SERVICES: tuple[str, ...] = (
    "dossier_submit", "dossier_status", "procedure_info", "doctor_ask", "doctor_appointment",
    "emergency", "shop_browse", "order_status", "announcement_latest", "announcement_subscribe",
    "address_code", "report_problem", "my_data",
)

_WORDLESS = re.compile(r"[\W_\d]*", re.UNICODE)


def menu_buttons(context: Context) -> tuple[Button, ...]:
    return tuple(Button(context.t(f"menu.{intent}"), f"menu:{intent}") for intent in SERVICES)


def with_menu(context: Context, text: str) -> Reply:
    return Reply(text, menu_buttons(context))


def menu_reply(context: Context, key: str = "help") -> Reply:
    return with_menu(context, context.t(key))


async def start(context: Context) -> list[Reply]:
    name = context.incoming.display_name
    greeting = context.t("greet", name=f" {name}" if name else "",
                         commune=context.services.commune.get("name", ""))
    return [with_menu(context, greeting)]


async def goodbye(context: Context) -> list[Reply]:
    return [Reply(context.t("goodbye"), (Button(context.t("button.menu"), "menu:help"),))]


async def thanks(context: Context) -> list[Reply]:
    return [Reply(context.t("thanks"), (Button(context.t("button.menu"), "menu:help"),))]


# What each role sees first under /help: its commands, and buttons for what it does most.
ROLE_DESKS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("staff", (("help.staff.button.dossiers", "dossier-admin:queue"),
               ("help.staff.button.reports", "report-admin:list"))),
    ("doctor", (("help.doctor.button.queue", "doctor:queue"), ("help.doctor.button.today", "doctor:today"))),
    ("seller", (("help.seller.button.orders", "seller:orders"),)),
    ("admin", (("help.admin.button.deadletters", "admin:list"),)),
)


def role_desks(context: Context) -> list[Reply]:
    """A reply per role the user holds (an administrator sees every desk): its commands and buttons."""
    identity = context.identity
    return [Reply(context.t(f"help.{role}"), tuple(Button(context.t(label), data) for label, data in buttons))
            for role, buttons in ROLE_DESKS if role in identity.roles or "admin" in identity.roles]


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


async def emergency(context: Context) -> list[Reply]:
    """Safety first: the 115 instruction comes before any question, whatever else is built."""
    commune = context.services.commune
    station = commune.get("health_station", {})
    text = context.t("emergency", station=station.get("name", ""),
                     station_address=station.get("address", ""), station_phone=station.get("phone", ""))
    number = str(commune.get("emergency_number") or "115")
    buttons = [call_button(context.t("emergency.call", number=number), number)]
    if station.get("phone"):
        buttons.append(call_button(context.t("emergency.call_station"), str(station["phone"])))
    buttons.append(Button(context.t("button.menu"), "menu:help"))
    return [Reply(text, tuple(buttons), kind="emergency")]


async def call(context: Context) -> list[Reply]:
    """A call button pressed where the channel cannot dial (Telegram): the number, written to tap."""
    number = (context.incoming.button or "").partition(":")[2]
    if not number or not all(ch.isdigit() or ch == "+" for ch in number) or len(number) > 16:
        return [Reply(context.t("unknown_button"))]
    return [Reply(context.t("emergency.dial", number=number))]


HEALTH_SERVICES = frozenset({"doctor_ask", "doctor_appointment"})


def coming_soon(intent: str) -> FlowHandler:
    """Honest about what is not built yet, and says who can help meanwhile: the health station for
    health questions, the commune office for everything else."""

    async def answer(context: Context) -> list[Reply]:
        commune = context.services.commune
        if intent in HEALTH_SERVICES:
            station = commune.get("health_station", {})
            text = context.t("coming_soon_health", service=context.t(f"menu.{intent}"),
                             station=station.get("name", ""), station_phone=station.get("phone", ""))
        else:
            office = commune.get("office", {})
            text = context.t("coming_soon", service=context.t(f"menu.{intent}"),
                             office_address=office.get("address", ""), office_phone=office.get("phone", ""),
                             office_hours=office.get("hours", ""))
        return [with_menu(context, text)]
    return answer


async def command_coming_soon(context: Context) -> list[Reply]:
    command = command_name(context.incoming.text or "") or "?"
    return [Reply(context.t("command_coming_soon", command=command))]


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


def register(router: Router) -> None:
    router.commands.update({"/start": start, "/help": show_help, "/menu": show_help, "/cancel": cancel,
                            "/lang": set_lang})
    router.intents.update({"greet": start, "goodbye": goodbye, "thanks": thanks, "help": show_help,
                           "out_of_scope": out_of_scope})
    router.intents.setdefault("emergency", emergency)  # bots/dialogue/health.py adds the alerts
    for intent in SERVICES:
        router.intents.setdefault(intent, coming_soon(intent))
    for command in COMMAND_ROLES:
        router.commands.setdefault(command, command_coming_soon)
    router.media.update({"location": location, "attachment": attachment, "voice": voice})
    router.buttons["call"] = call
    router.anywhere.add("call")
    router.unknown_command = unknown_command
    router.unknown_button = unknown_button
    router.fallback = out_of_scope

    async def menu_button(context: Context) -> list[Reply]:
        _, _, intent = (context.incoming.button or "").partition(":")
        handler = router.intents.get(intent) if intent in (*SERVICES, "help") else None
        return await (handler or unknown_button)(context)

    router.buttons["menu"] = menu_button
