"""What the dashboard shows, as data: each service contributes a `Section` of figures through an
async provider, and map layers through an async layer provider. Both lists are passed in when the
dashboard is assembled (`bots/dashboard/registry.py`), so a new service adds one line there.

A provider runs in a read-only session of its own and must only count: no personal data leaves it
(ids and codes at most). Labels are i18n keys, so each service keeps its strings in its own catalogue
file (`data/i18n/{vi,en}/<service>.yml`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from backends.addresses.hamlets import Hamlets
from bots.dashboard.headline import by_actor
from bots.dialogue.base import Services
from core.db import Database
from core.models import User

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Figure:
    """One number: `label` is an i18n key; `alert` draws it in red (overdue, dead letters, a broken chain)."""

    key: str
    label: str  # an i18n key; text without a catalogue entry is shown as it is
    value: int | float | str | None
    unit: str = ""  # "", "min", "h", "vnd", "%"
    alert: bool = False


@dataclass(frozen=True, slots=True)
class Bar:
    key: str
    label: str  # an i18n key; text without a catalogue entry is shown as it is (a channel's name)
    value: float
    alert: bool = False


@dataclass(frozen=True, slots=True)
class Item:
    """One thing needing attention, listed under a section: a code and short labels, never personal data."""

    code: str
    cells: tuple[str, ...]  # i18n keys or plain text (a status, a due date)
    alert: bool = False


@dataclass(frozen=True, slots=True)
class Section:
    """A service's block on the overview and its key in /api/stats."""

    key: str
    title: str  # i18n key
    figures: tuple[Figure, ...]
    bars: tuple[Bar, ...] = ()  # drawn as a bar chart when present
    link: str | None = None  # a dashboard page with more (e.g. /dashboard/deadletters)
    items: tuple[Item, ...] = ()  # what needs attention first (e.g. overdue dossiers), a few at most

    def to_json(self) -> dict[str, Any]:
        return {"figures": {figure.key: figure.value for figure in self.figures},
                "alerts": [figure.key for figure in self.figures if figure.alert],
                "chart": {bar.key: bar.value for bar in self.bars},
                "items": [item.code for item in self.items]}


@dataclass(frozen=True, slots=True)
class Marker:
    """What a layer puts in one hamlet: a count (and the codes behind it, a few at most)."""

    hamlet_id: str
    count: int
    codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Layer:
    key: str
    title: str  # i18n key
    colour: str  # a CSS colour for its markers
    markers: tuple[Marker, ...]
    unplaced: int = 0  # items the layer could not put in a hamlet
    note: str | None = None  # i18n key explaining what is (not) placed

    def to_json(self) -> dict[str, Any]:
        return {"by_hamlet": {marker.hamlet_id: marker.count for marker in self.markers},
                "unplaced": self.unplaced}


@dataclass(frozen=True)
class StatsContext:
    """What a provider receives: a session, the services, the moment, and the commune's hamlets.

    `commune` is the code every query is filtered by (`of_commune`); None counts every record, on a
    commune's own installation or in the province's view of all its communes."""

    session: AsyncSession
    services: Services
    now: dt.datetime
    day_start: dt.datetime  # today's 00:00 in the commune (Asia/Ho_Chi_Minh), as UTC
    today: dt.date
    hamlets: Hamlets  # services.commune's own hamlets (core/commune.py), indexed to be found and located
    commune: str | None = None
    products: frozenset[str] | None = None  # the commune's product ids (stock is kept by product)

    def of_commune(self, column: Any) -> tuple[ColumnElement[bool], ...]:
        """The condition keeping a record of the commune shown (none for every commune)."""
        return () if self.commune is None else (column == self.commune,)

    def of_users(self, column: Any) -> tuple[ColumnElement[bool], ...]:
        """The same for a row that only names its user (an outbox message, a subscription)."""
        if self.commune is None:
            return ()
        return (column.in_(select(User.id).where(User.commune == self.commune)),)

    def of_actors(self, since: dt.datetime | None = None) -> tuple[ColumnElement[bool], ...]:
        """The same for audit entries, whose actor is written `user:<id>` (`since`: entries of that
        moment or later only, which lets the query look at the people seen since alone)."""
        return by_actor(self.commune, since)


FigureProvider = Callable[[StatsContext], Awaitable[Section]]
LayerProvider = Callable[[StatsContext], Awaitable[Layer]]


@dataclass(frozen=True)
class Registry:
    """The visible list of what the dashboard shows, in order."""

    figures: Sequence[FigureProvider] = ()
    layers: Sequence[LayerProvider] = ()
    extra: dict[str, Any] = field(default_factory=dict)


async def collect(database: Database, make_context: Callable[[AsyncSession], StatsContext],
                  providers: Sequence[Callable[[StatsContext], Awaitable[Any]]]) -> list[Any]:
    """Runs each provider in its own session, one after the other (SQLite has one connection to
    spare); a provider that fails is logged and left out rather than taking the page down."""
    results = []
    for provider in providers:
        try:
            async with database.session() as session:
                results.append(await provider(make_context(session)))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("dashboard provider %s failed", getattr(provider, "__name__", provider))
    return results
