"""The services the assistant runs, in order. Each is one package (bots/services/<name>/) whose `unit`
module declares it: `service(kit) -> Service` (bots/dialogue/service.py) and `TABLES`. The assembly
refuses two services claiming the same name. The order is the priority where several may answer: a
shared location goes to the tourism guide when it asked for one, then to the health desk (just after an
emergency), then to the address service;
the menu is last and answers what nothing else does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from bots.dialogue.service import Assembly, Service, assemble
from bots.services.account import unit as account
from bots.services.address import unit as address
from bots.services.announcements import unit as announcements
from bots.services.deadletters import unit as deadletters
from bots.services.dossiers import unit as dossiers
from bots.services.forms import unit as forms
from bots.services.health import unit as health
from bots.services.kit import Kit
from bots.services.listen import unit as listen
from bots.services.menu import unit as menu
from bots.services.reports import unit as reports
from bots.services.shop import unit as shop
from bots.services.skills import unit as skills
from bots.services.stats import unit as stats
from bots.services.tourism import unit as tourism
from core.config import DEFAULT_COMMUNE


class ServiceUnit(Protocol):
    """A service's package as the assembly sees it: its `unit` module (bots/services/<name>/unit.py)."""

    TABLES: tuple[str, ...]  # the modules defining its tables (migrations/env.py imports them)

    def service(self, kit: Kit) -> Service: ...


SERVICES: tuple[ServiceUnit, ...] = (
    forms,
    account,
    dossiers,
    tourism,  # a location shared when it asked for one is the visitor's, before the health desk's
    health,
    shop,
    reports,
    skills,
    stats,
    deadletters,
    announcements,
    listen,
    address,
    menu,
)


def build(kit: Kit, units: Sequence[ServiceUnit] = SERVICES) -> Assembly:
    return assemble(unit.service(kit) for unit in units)


def table_modules(units: Sequence[ServiceUnit] = SERVICES) -> tuple[str, ...]:
    return tuple(module for unit in units for module in unit.TABLES)


def grantable_roles(data_dir: Path, commune: str = DEFAULT_COMMUNE) -> tuple[str, ...]:
    """The roles the services declare (`/invite ROLE`, `xaso invite ROLE`), in their order."""
    from bots.dialogue.forms import Forms
    from core.forms import load_forms

    return tuple(build(Kit.load(data_dir, Forms(load_forms(data_dir / "forms")), commune)).roles)
