"""Status updates from the provincial one-stop system, received by `POST /hooks/onestop`
(bots/hooks/receiver.py).

    {"type": "dossier.status", "data": {"code": "LB-2026-000001", "status": "approved", "note": "…"}}

`status` is one of ours (backends/onestop/store.py STATUSES). The dossier moves through the same state
machine as a staff decision, with the actor `system:onestop`: a received dossier is taken up first, the
citizen is notified through the outbox, and every move or refusal is audited. An unknown dossier or a
move the machine refuses is a 422 the provincial system sees, and nothing changes.

The provincial system addresses a dossier by its code, which names its commune: the dossier is found
whatever the commune, then moved and its citizen told with that commune's services and procedures
(`OnestopInbound.serving` gives every commune the assistant serves its own). A dossier of a commune
this installation does not serve is unknown.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backends.onestop.catalogue import ProcedureCatalogue
from backends.onestop.store import STATUSES, Dossier
from backends.onestop.workflow import (
    ConcurrentChange,
    Moved,
    WorkflowError,
    check,
    dossier_by_code,
    transition,
)
from bots.dialogue.base import Context, Services
from bots.hooks.receiver import HookRefused
from bots.onestop_out import ACTOR
from bots.services.dossiers.notify import notify_citizen
from core.models import utcnow
from core.pipeline import Turn

if TYPE_CHECKING:
    from bots.assistant import Assistant

log = logging.getLogger(__name__)
EVENT_TYPE = "dossier.status"
MAX_CODE_CHARS = 24


def _fields(payload: dict[str, Any]) -> tuple[str, str, str | None]:
    if payload.get("type") != EVENT_TYPE:
        raise HookRefused(422, "unknown_type")
    data = payload.get("data")
    if not isinstance(data, dict):
        raise HookRefused(400, "malformed")
    code, status, note = data.get("code"), data.get("status"), data.get("note")
    if not (isinstance(code, str) and 0 < len(code) <= MAX_CODE_CHARS and isinstance(status, str)
            and (note is None or isinstance(note, str))):
        raise HookRefused(400, "malformed")
    if status not in STATUSES:
        raise HookRefused(422, "unknown_status")
    return code, status, note


@dataclass(frozen=True)
class Office:
    """A commune's one-stop desk as the hook needs it: its services (the citizen's notice goes out with
    them) and its procedures (the notice names the dossier's)."""

    services: Services
    procedures: ProcedureCatalogue


class OnestopInbound:
    """`services` and `procedures`: the installation's own commune's; `communes`, when given, every
    served commune's office by code (that one included)."""

    def __init__(self, services: Services, procedures: ProcedureCatalogue,
                 clock: Callable[[], dt.datetime] = utcnow,
                 communes: Mapping[str, Office] | None = None) -> None:
        self.services = services
        self.procedures = procedures
        self.clock = clock
        self.offices = dict(communes or {services.commune.code: Office(services, procedures)})

    @classmethod
    def serving(cls, assistant: Assistant, clock: Callable[[], dt.datetime] = utcnow) -> OnestopInbound:
        """The handler for every commune `assistant` serves, each dossier moved with its own commune's."""
        offices = {local.services.commune.code: Office(local.services, local.kit.procedures)
                   for local in assistant.locals()}
        return cls(assistant.services, assistant.kit.procedures, clock, communes=offices)

    async def handle(self, turn: Turn, payload: dict[str, Any]) -> dict[str, Any]:
        code, wanted, note = _fields(payload)
        dossier = await dossier_by_code(turn.session, code)
        office = self.offices.get(dossier.commune) if dossier is not None else None
        if dossier is None or office is None:
            if dossier is not None:
                log.error("one-stop update for %s refused: its commune %s is not served here",
                          dossier.code, dossier.commune)
            turn.audit(ACTOR, "dossier.transition", subject="dossier:?", outcome="refused",
                       detail={"to": wanted, "reason": "unknown_dossier"})
            raise HookRefused(422, "unknown_dossier")
        subject, before = f"dossier:{dossier.code}", dossier.status
        audited = len(turn.audit_notes)
        context = Context(turn, office.services)
        try:
            if dossier.status == "received" and wanted != "processing":
                check("processing", wanted, note)  # refuse before taking it up, as the staff desk does
                await self._move(context, office, dossier, "processing", None)
            await self._move(context, office, dossier, wanted, note)
        except WorkflowError as refused:
            del turn.audit_notes[audited:]  # the moves before it are rolled back
            turn.audit(ACTOR, "dossier.transition", subject=subject, outcome="refused",
                       detail={"from": refused.current, "to": refused.wanted, "reason": refused.code})
            status = 409 if isinstance(refused, ConcurrentChange) else 422
            raise HookRefused(status, refused.code, current=before) from None  # nothing moved
        return {"code": dossier.code, "dossier_status": dossier.status}

    async def _move(self, context: Context, office: Office, dossier: Dossier, wanted: str,
                    note: str | None) -> Moved:
        moved = await transition(context.session, dossier, wanted, actor=ACTOR, note=note, now=self.clock())
        context.turn.audit(ACTOR, "dossier.transition", subject=f"dossier:{dossier.code}",
                           detail={"from": moved.previous, "to": wanted, "event": moved.event.id})
        await notify_citizen(context, dossier, moved.event, office.procedures.get(dossier.procedure_id))
        return moved
