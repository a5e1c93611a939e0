"""The main menu every flow can end on, and the 115 answer every flow can give first.

The menu's entries are declared by the services (`MenuEntry`) and ordered by the assembly."""

from __future__ import annotations

from bots.dialogue.base import Context
from core.messages import Button, Reply, call_button


def menu_intents(context: Context) -> tuple[str, ...]:
    return context.assembly.menu if context.assembly is not None else ()


def menu_buttons(context: Context) -> tuple[Button, ...]:
    buttons = tuple(Button(context.t(f"menu.{intent}"), f"menu:{intent}") for intent in menu_intents(context))
    if context.services.settings.several_communes:  # a province's: the commune can be changed
        buttons += (Button(context.t("menu.commune"), "commune:show"),)
    return buttons


def with_menu(context: Context, text: str) -> Reply:
    return Reply(text, menu_buttons(context))


def menu_reply(context: Context, key: str = "help") -> Reply:
    return with_menu(context, context.t(key))


async def emergency(context: Context) -> list[Reply]:
    """Safety first: the 115 instruction comes before any question, whatever else is built."""
    commune = context.services.commune
    station = commune.health_station
    text = context.t("emergency", station=station.name, station_address=station.address,
                     station_phone=station.phone)
    number = commune.emergency_number
    buttons = [call_button(context.t("emergency.call", number=number), number)]
    if station.phone:
        buttons.append(call_button(context.t("emergency.call_station"), station.phone))
    buttons.append(Button(context.t("button.menu"), "menu:help"))
    return [Reply(text, tuple(buttons), kind="emergency")]
