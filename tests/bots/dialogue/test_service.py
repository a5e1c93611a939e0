"""Services as units (bots/dialogue/service.py): deny by default by construction, conflicts refused
at start-up naming both services, and a new service added from one package plus its data
(tests/support/opening_hours, the example of docs/internals.md "Adding a service")."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bots.assistant import Assistant
from bots.dialogue.base import Context
from bots.dialogue.service import (
    Buttons,
    Command,
    Fallbacks,
    Holdings,
    Service,
    ServiceConflict,
    assemble,
    check_i18n,
)
from bots.server import create_app
from bots.services.assembly import SERVICES
from core.config import Settings
from core.db import Database
from core.i18n import Catalogue
from core.messages import Reply
from core.roles import PUBLIC, only
from nlu.engine import NLUEngine
from tests.support import opening_hours
from tests.support.chat import ChatSession, texts
from tests.support.opening_hours import unit as opening_hours_unit

REPO_DATA = Path(__file__).resolve().parents[3] / "data"


async def answer(context: Context) -> list[Reply]:
    return [Reply("ok")]


def menu_service() -> Service:
    return Service("menu", fallbacks=Fallbacks(text=answer, command=answer, button=answer,
                                               unbuilt=lambda intent: answer))


def test_a_command_or_button_family_without_an_audience_cannot_be_declared() -> None:
    with pytest.raises(ServiceConflict, match="/approve has no audience"):
        Command("/approve", None, answer)  # type: ignore[arg-type]
    with pytest.raises(ServiceConflict, match="family seller has no audience"):
        Buttons("seller", None, handler=answer)  # type: ignore[arg-type]
    with pytest.raises(ServiceConflict, match="neither actions nor a handler"):
        Buttons("seller", only("seller"))


def test_an_assembly_refuses_two_services_claiming_the_same_name() -> None:
    tea = Service("tea", intents={"shop_order": answer},
                  commands=(Command("/orders", only("seller"), answer),),
                  buttons=(Buttons("shop", PUBLIC, handler=answer),))
    cases: list[tuple[Service, str]] = [
        (Service("tourism", intents={"shop_order": answer}),
         "intent 'shop_order' is claimed by both 'tea' and 'tourism'"),
        (Service("tourism", commands=(Command("/orders", PUBLIC, answer),)),
         "command '/orders' is claimed by both 'tea' and 'tourism'"),
        (Service("tourism", buttons=(Buttons("shop", PUBLIC, handler=answer),)),
         "button family 'shop' is claimed by both 'tea' and 'tourism'"),
        (Service("tea"), "service 'tea' is claimed by both 'tea' and 'tea'"),
    ]
    for second, message in cases:
        with pytest.raises(ServiceConflict) as refused:
            assemble((tea, second, menu_service()))
        assert str(refused.value) == message


def test_the_access_rules_come_from_the_declarations(settings: Settings, database: Database,
                                                     nlu_engine: NLUEngine) -> None:
    assembly = Assistant.build(settings, nlu=nlu_engine, database=database).assembly
    assert assembly.access.staff_commands() == {
        "/dossiers": {"staff"}, "/dossier": {"staff"}, "/approve": {"staff"}, "/reject": {"staff"},
        "/request": {"staff"}, "/announce": {"staff"}, "/reports": {"staff"}, "/stats": {"staff"},
        "/dashboard": {"staff", "province"}, "/queue": {"doctor"}, "/answer": {"doctor"},
        "/close": {"doctor"},
        "/orders": {"seller"}, "/ship": {"seller"}, "/paid": {"seller", "staff"}, "/invite": {"admin"},
        "/revoke": {"admin"}, "/deadletters": {"admin"}, "/learners": {"tutor"}, "/bookings": {"host"},
    }
    requirement = assembly.access.requirement_for(None, "doctor:take:1")
    assert requirement is not None and requirement.roles == {"doctor"}
    assert assembly.access.requirement_for(None, "shop:browse") is None  # declared public
    assert assembly.access.requirement_for("/hours", None) is None  # nobody declared it: no handler either


async def nothing(context: Context) -> list[str]:
    return []


def test_holdings_are_ordered_by_position_and_export_keys_are_not_shared() -> None:
    """/mydata reads the holdings in this order (the warning's lines, the farewell's); two services
    filling the same key of the export would overwrite each other."""
    orders, dossiers = Holdings(10, export={"orders": nothing}), Holdings(30, export={"dossiers": nothing})
    assembly = assemble((Service("dossiers", holdings=dossiers), Service("tea"),
                         Service("shop", holdings=orders), menu_service()))
    assert assembly.holdings == (orders, dossiers)
    with pytest.raises(ServiceConflict) as refused:
        tea = Service("tea", holdings=Holdings(20, export={"orders": nothing}))
        assemble((Service("shop", holdings=orders), tea, menu_service()))
    assert str(refused.value) == "export key 'orders' is claimed by both 'shop' and 'tea'"


def test_a_declared_i18n_prefix_needs_strings_in_every_language() -> None:
    catalogue = Catalogue.load(REPO_DATA / "i18n")
    assembly = assemble((Service("fishing", i18n=("fishing.",)), menu_service()))
    with pytest.raises(ServiceConflict, match=re.escape("no vi strings for the i18n prefix 'fishing.'")):
        check_i18n(assembly, catalogue.keys, catalogue.languages)


@pytest.fixture
async def with_opening_hours(tmp_path: Path, settings: Settings, database: Database,
                             nlu_engine: NLUEngine) -> AsyncIterator[tuple[TestClient, Any]]:
    """The commune's data plus the example's strings, and the example inserted before the menu."""
    data = tmp_path / "data"
    shutil.copytree(REPO_DATA, data)
    for language in ("vi", "en"):
        shutil.copy(Path(opening_hours.__file__).parent / "i18n" / language / "opening_hours.yml",
                    data / "i18n" / language / "opening_hours.yml")
    units = (*SERVICES[:-1], opening_hours_unit, SERVICES[-1])
    assistant = Assistant.build(settings.model_copy(update={"data_dir": data}), nlu=nlu_engine,
                                database=database, units=units)
    async with TestClient(TestServer(create_app(assistant))) as client:
        yield client, assistant


async def test_a_new_service_is_one_package_plus_its_data(with_opening_hours: tuple[TestClient, Any]) -> None:
    client, _ = with_opening_hours
    villager = await ChatSession.open(client)
    menu = [button["data"] for reply in await villager.say("/start") for button in reply["buttons"]]
    assert menu.index("menu:office_hours") == menu.index("menu:report_problem") + 1  # position 125
    replies = await villager.press("menu:office_hours")
    assert "Bộ phận một cửa làm việc Thứ Hai – Thứ Sáu" in texts(replies)
    assert replies[-1]["buttons"] == [{"label": "📅 7 ngày tới", "data": "hours:week"}]
    week = texts(await villager.press("hours:week"))
    assert week.count("mở cửa") + week.count("nghỉ") == 7
    assert "Bộ phận một cửa" in texts(await villager.say("/hours"))
    assert "không có quyền" in texts(await villager.say("/hours-days-off"))  # staff only, checked in core
    assert "Nút này đã cũ" in texts(await villager.press("hours:month"))  # an action nobody declared
