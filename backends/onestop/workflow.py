"""The life of a dossier as an explicit state machine.

    received ─→ processing ─→ approved ─→ delivered
                  │   ↑  └──→ rejected
                  ↓   │           ↑
                needs_info ───────┘

Every move goes through `transition`, which refuses anything not in `TRANSITIONS` with a typed error
and records the move in the dossier's history with who made it. The status is changed with a
conditional UPDATE, so two officials acting on one dossier at once cannot both move it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backends.onestop.store import STATUSES, Dossier, DossierEvent, in_commune, record_event
from core.models import utcnow

TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"processing"}),
    "processing": frozenset({"needs_info", "approved", "rejected"}),
    "needs_info": frozenset({"processing", "rejected"}),
    "approved": frozenset({"delivered"}),
    "rejected": frozenset(),
    "delivered": frozenset(),
}
OPEN_STATUSES: tuple[str, ...] = ("received", "processing", "needs_info")
# Moves that mean nothing without words: the citizen must learn why, or what is missing.
NOTE_REQUIRED = frozenset({"rejected", "needs_info"})
MAX_NOTE_CHARS = 1000

assert set(TRANSITIONS) == set(STATUSES), "every status needs its row in TRANSITIONS"


class WorkflowError(Exception):
    """A move the workflow refuses; `code` names the reason for messages and the audit log."""

    code = "refused"

    def __init__(self, current: str, wanted: str) -> None:
        super().__init__(f"{self.code}: {current} → {wanted}")
        self.current = current
        self.wanted = wanted


class TransitionRefused(WorkflowError):
    code = "impossible"


class NoteRequired(WorkflowError):
    code = "note_required"


class NoteTooLong(WorkflowError):
    code = "note_too_long"


class ConcurrentChange(WorkflowError):
    """Someone else moved the dossier between our read and our write."""

    code = "concurrent"


@dataclass(frozen=True, slots=True)
class Moved:
    dossier: Dossier
    previous: str
    event: DossierEvent


def can_move(current: str, wanted: str) -> bool:
    return wanted in TRANSITIONS.get(current, frozenset())


def check(current: str, wanted: str, note: str | None) -> str | None:
    """The note to record, cleaned; raises the WorkflowError that forbids the move."""
    if not can_move(current, wanted):
        raise TransitionRefused(current, wanted)
    cleaned = (note or "").strip() or None
    if wanted in NOTE_REQUIRED and cleaned is None:
        raise NoteRequired(current, wanted)
    if cleaned is not None and len(cleaned) > MAX_NOTE_CHARS:
        raise NoteTooLong(current, wanted)
    return cleaned


async def transition(session: AsyncSession, dossier: Dossier, wanted: str, *, actor: str,
                     note: str | None = None, now: dt.datetime | None = None) -> Moved:
    current = dossier.status
    cleaned = check(current, wanted, note)
    now = now or utcnow()
    changed = await session.execute(
        update(Dossier).where(Dossier.id == dossier.id, Dossier.status == current)
        .values(status=wanted, updated_at=now).execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        raise ConcurrentChange(current, wanted)
    dossier.status = wanted
    dossier.updated_at = now
    event = await record_event(session, dossier, current, actor=actor, at=now, note=cleaned)
    return Moved(dossier, current, event)


async def dossier_by_code(session: AsyncSession, code: str, *, commune: str | None = None) -> Dossier | None:
    """Any dossier of `commune` (None: of any commune), whoever submitted it: for staff only."""
    query = select(Dossier).where(Dossier.code == code.strip().upper())
    return (await session.execute(in_commune(query, commune))).scalar_one_or_none()


async def open_dossiers(session: AsyncSession, limit: int = 20, *,
                        commune: str | None = None) -> tuple[list[Dossier], int]:
    """The staff queue of `commune` (None: every commune's), the earliest due date (so the overdue)
    first, and how many are open in all."""
    is_open: list[ColumnElement[bool]] = [Dossier.status.in_(OPEN_STATUSES)]
    if commune is not None:
        is_open.append(Dossier.commune == commune)
    query = select(Dossier).where(*is_open).order_by(Dossier.due_date, Dossier.submitted_at, Dossier.id)
    rows = list((await session.execute(query.limit(limit))).scalars())
    total = (await session.execute(select(func.count()).select_from(Dossier).where(*is_open))).scalar_one()
    return rows, int(total)


async def last_request(session: AsyncSession, dossier_id: int) -> DossierEvent | None:
    """The latest "needs info" event: who asked, and what."""
    query = (select(DossierEvent).where(DossierEvent.dossier_id == dossier_id,
                                        DossierEvent.status == "needs_info")
             .order_by(DossierEvent.id.desc()).limit(1))
    return (await session.execute(query)).scalar_one_or_none()
