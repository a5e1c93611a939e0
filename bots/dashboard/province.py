"""The province's overview: each commune's figures side by side (messages from its people today and
over seven days, dossiers open and overdue, consults waiting for a doctor, reports and orders open),
counted per commune from the `commune` column of each service's records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backends.health.consults import OPEN as CONSULT_OPEN
from backends.health.consults import Consult
from backends.onestop.store import Dossier
from backends.onestop.workflow import OPEN_STATUSES as DOSSIER_OPEN
from backends.reports.store import OPEN_STATUSES as REPORT_OPEN
from backends.reports.store import Report
from backends.shop.orders import OPEN_STATUSES as ORDER_OPEN
from backends.shop.orders import Order
from backends.stats import start_of_day
from bots.dashboard.headline import messages_since
from bots.dashboard.providers import first_seq_since
from core.timezones import VIETNAM

WEEK_DAYS = 7  # today and the six days before


@dataclass(frozen=True, slots=True)
class CommuneRow:
    code: str
    name: str
    messages_today: int
    messages_week: int
    dossiers_open: int
    dossiers_overdue: int
    consults_waiting: int
    reports_open: int
    orders_open: int


async def _counts(session: AsyncSession, column: Any, *where: ColumnElement[bool]) -> dict[str, int]:
    """How many records match, by commune."""
    rows = (await session.execute(select(column, func.count()).where(*where).group_by(column))).all()
    return {str(code): int(count) for code, count in rows}


async def commune_rows(session: AsyncSession, communes: Sequence[tuple[str, str]],
                       now: dt.datetime) -> list[CommuneRow]:
    """One row per commune (code, name), in the order given."""
    today_start = start_of_day(now)
    week_start = today_start - dt.timedelta(days=WEEK_DAYS - 1)
    today = now.astimezone(VIETNAM).date()
    first_today = await first_seq_since(session, today_start)
    first_week = await first_seq_since(session, week_start)
    dossiers_open = await _counts(session, Dossier.commune, Dossier.status.in_(DOSSIER_OPEN))
    overdue = await _counts(session, Dossier.commune, Dossier.status.in_(DOSSIER_OPEN),
                            Dossier.due_date < today)
    waiting = await _counts(session, Consult.commune, Consult.status == CONSULT_OPEN)
    reports = await _counts(session, Report.commune, Report.status.in_(REPORT_OPEN))
    orders = await _counts(session, Order.commune, Order.status.in_(ORDER_OPEN))
    rows = []
    for code, name in communes:
        rows.append(CommuneRow(
            code, name,
            messages_today=await messages_since(session, today_start, code, first_today),
            messages_week=await messages_since(session, week_start, code, first_week),
            dossiers_open=dossiers_open.get(code, 0), dossiers_overdue=overdue.get(code, 0),
            consults_waiting=waiting.get(code, 0), reports_open=reports.get(code, 0),
            orders_open=orders.get(code, 0)))
    return rows


def total(rows: Sequence[CommuneRow], name: str) -> CommuneRow:
    """The province's row: the communes' figures added up."""
    numbers = [field.name for field in fields(CommuneRow) if field.name not in ("code", "name")]
    return CommuneRow("", name, *(sum(getattr(row, number) for row in rows) for number in numbers))
