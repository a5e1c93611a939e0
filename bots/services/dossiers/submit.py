"""The citizen's side of the one-stop office: choose a procedure, consent, fill its form with photos
of the papers, get a dossier code and a due date; ask what a procedure needs; follow a dossier.

Buttons are `dossier:<action>:<argument>`; the argument comes from the client, so every one is
checked again (a procedure must be in the catalogue, a dossier must be the user's own). In a province
a dossier belongs to the commune it was submitted in (its code starts with that commune's): a villager
follows only their commune's, another commune's code is answered like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from backends.onestop.calendar import WorkingCalendar
from backends.onestop.catalogue import Procedure, ProcedureCatalogue, local
from backends.onestop.store import (
    Dossier,
    Submission,
    create_dossier,
    dossier_of_user,
    dossiers_of_user,
    history,
)
from bots.dialogue.base import Context
from bots.dialogue.forms import Completion, Forms
from bots.dialogue.menu import menu_reply
from bots.dialogue.stop import cancelled, wants_out
from bots.services.dossiers.notify import notify_staff_new
from core.consent import grant_consent, has_consent
from core.messages import Button, Reply
from core.state import State
from core.timezones import VIETNAM
from core.validators import Valid, yes_no

FLOW = "dossier"
PURPOSE = "dossier"
_CODE = re.compile(r"\b[A-Za-z]{2,4}-\d{4}-\d{6}\b")


def _date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _moment(at: dt.datetime) -> str:
    return at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")


@dataclass
class DossierFlow:
    procedures: ProcedureCatalogue
    calendar: WorkingCalendar
    forms: Forms

    # -- what the user asked for

    def _procedure_asked(self, context: Context) -> Procedure | None:
        entity = context.parse.first("procedure") if context.parse else None
        if entity is not None and (found := self.procedures.get(entity.value)):
            return found
        return self.procedures.match(context.incoming.text or "") if context.incoming.text else None

    def _code_asked(self, context: Context) -> str | None:
        entity = context.parse.first("dossier_code") if context.parse else None
        if entity is not None:
            return entity.value.upper()
        found = _CODE.search(context.incoming.text or "")
        return found.group(0).upper() if found else None

    # -- submitting

    async def submit(self, context: Context) -> list[Reply]:
        procedure = self._procedure_asked(context)
        if procedure is None:
            return [self._list(context, "dossier.pick", "pick")]
        context.set_state(State(FLOW, {"step": "confirm", "procedure": procedure.id}))
        return [Reply(context.t("dossier.confirm", procedure=procedure.name_in(context.lang)), (
            Button(context.t("dossier.button.yes"), f"dossier:start:{procedure.id}", means="yes"),
            Button(context.t("dossier.button.other"), "dossier:list", means="no"),
        ))]

    def _list(self, context: Context, key: str, action: str) -> Reply:
        buttons = tuple(Button(p.name_in(context.lang), f"dossier:{action}:{p.id}") for p in self.procedures)
        return Reply(context.t(key), buttons)

    async def begin(self, context: Context, procedure: Procedure) -> list[Reply]:
        if not await has_consent(context.session, context.identity.id, PURPOSE):
            context.set_state(State(FLOW, {"step": "consent", "procedure": procedure.id}))
            return [Reply(context.t("dossier.consent_ask"), (
                Button(context.t("dossier.button.consent"), f"dossier:consent:{procedure.id}", means="yes"),
                Button(context.t("dossier.button.refuse"), "dossier:refuse", means="no"),
            ))]
        return await self.forms.start(context, procedure.form_id, then=completion_name(procedure))

    async def consent(self, context: Context, procedure: Procedure) -> list[Reply]:
        await grant_consent(context.session, context.identity.id, PURPOSE)
        context.audit("consent.grant", subject=PURPOSE)
        return [Reply(context.t("dossier.consent_granted")), *await self.begin(context, procedure)]

    async def refuse(self, context: Context) -> list[Reply]:
        context.set_state(None)
        return [menu_reply(context, "dossier.consent_refused")]

    async def complete(self, context: Context, procedure: Procedure,
                       values: dict[str, Any]) -> list[Reply]:
        dossier = await create_dossier(
            context.session, context.services.cipher, self.calendar, commune=context.services.commune.code,
            submission=Submission(procedure, context.identity.id, dict(values)),
        )
        context.audit("dossier.submit", subject=f"dossier:{dossier.code}", detail={"procedure": procedure.id})
        await notify_staff_new(context, dossier, procedure)  # staff need not poll /dossiers
        papers = [self._paper_line(context, procedure, name, optional=False) for name in dossier.papers]
        text = context.t(
            "dossier.receipt", procedure=procedure.name_in(context.lang), code=dossier.code,
            papers="\n".join(papers) or context.t("dossier.no_papers"), fee=self._fee(context, procedure),
            in_person=self._in_person(context, procedure, "dossier.in_person"),
            due=_date(dossier.due_date), days=procedure.time_limit_days,
        )
        return [Reply(text, (
            Button(context.t("dossier.button.view"), f"dossier:view:{dossier.code}"),
            Button(context.t("button.menu"), "menu:help"),
        ))]

    # -- what a procedure needs

    async def info(self, context: Context) -> list[Reply]:
        procedure = self._procedure_asked(context)
        if procedure is None:
            return [self._list(context, "dossier.pick_info", "info")]
        return [self._info(context, procedure)]

    def _info(self, context: Context, procedure: Procedure) -> Reply:
        papers = [self._paper_line(context, procedure, p.name, optional=not p.required)
                  for p in procedure.papers]
        text = context.t(
            "dossier.info", procedure=procedure.name_in(context.lang), papers="\n".join(papers),
            fee=self._fee(context, procedure), days=procedure.time_limit_days,
            in_person=self._in_person(context, procedure, "dossier.info_in_person"),
            legal_basis=procedure.legal_basis,
        )
        return Reply(text, (
            Button(context.t("dossier.button.start"), f"dossier:start:{procedure.id}"),
            Button(context.t("dossier.button.other"), "dossier:list"),
        ))

    def _paper_line(self, context: Context, procedure: Procedure, name: str, optional: bool) -> str:
        paper = procedure.paper_named(name)
        label = local(paper.label, context.lang) if paper else name
        return context.t("dossier.paper_optional" if optional else "dossier.paper_line", paper=label)

    def _fee(self, context: Context, procedure: Procedure) -> str:
        fee = context.t("dossier.fee_free") if procedure.fee == 0 else context.t(
            "dossier.fee_amount", amount=f"{procedure.fee:,}".replace(",", "."))
        return f"{fee}. {local(procedure.fee_note, context.lang)}" if procedure.fee_note else fee

    def _in_person(self, context: Context, procedure: Procedure, key: str) -> str:
        text = context.t(f"{key}_yes" if procedure.in_person else f"{key}_no")
        note = procedure.in_person_note
        return f"{text} {local(note, context.lang)}" if procedure.in_person and note else text

    # -- following

    async def status(self, context: Context) -> list[Reply]:
        code = self._code_asked(context)
        return await (self.view(context, code) if code else self.mine(context))

    async def view(self, context: Context, code: str) -> list[Reply]:
        dossier = await dossier_of_user(context.session, code, context.identity.id,
                                        commune=context.services.commune.code)
        if dossier is None:
            context.audit("dossier.view", subject=f"dossier:{code[:24]}", outcome="not_found")
            return [Reply(context.t("dossier.not_found", code=code[:24]),
                          (Button(context.t("dossier.button.mine"), "dossier:mine"),))]
        context.audit("dossier.view", subject=f"dossier:{dossier.code}")
        events = [
            context.t("dossier.history_note" if event.note else "dossier.history_line", at=_moment(event.at),
                      status=self._status(context, event.status), note=event.note or "")
            for event in await history(context.session, dossier.id)
        ]
        text = context.t(
            "dossier.view", code=dossier.code, procedure=self._procedure_name(context, dossier),
            status=self._status(context, dossier.status), submitted=_moment(dossier.submitted_at),
            due=_date(dossier.due_date), history="\n".join(events),
        )
        return [Reply(text, (Button(context.t("dossier.button.mine"), "dossier:mine"),
                             Button(context.t("button.menu"), "menu:help")))]

    async def mine(self, context: Context) -> list[Reply]:
        dossiers = await dossiers_of_user(context.session, context.identity.id,
                                          commune=context.services.commune.code)
        if not dossiers:
            return [Reply(context.t("dossier.none"), (
                Button(context.t("dossier.button.submit"), "dossier:list"),
                Button(context.t("button.menu"), "menu:help"),
            ))]
        lines = [context.t("dossier.mine_line", code=d.code, procedure=self._procedure_name(context, d),
                           status=self._status(context, d.status)) for d in dossiers]
        buttons = tuple(Button(d.code, f"dossier:view:{d.code}") for d in dossiers)
        return [Reply(context.t("dossier.mine", lines="\n".join(lines)), buttons)]

    def _procedure_name(self, context: Context, dossier: Dossier) -> str:
        procedure = self.procedures.get(dossier.procedure_id)
        return procedure.name_in(context.lang) if procedure else dossier.procedure_id

    def _status(self, context: Context, status: str) -> str:
        key = f"dossier.status.{status}"
        return context.t(key) if context.services.catalogue.has(key) else status

    # -- buttons (bots/services/dossiers/unit.py) and typed answers

    async def listing(self, context: Context) -> list[Reply]:
        context.set_state(None)
        return [self._list(context, "dossier.pick", "pick")]

    async def view_pressed(self, context: Context) -> list[Reply]:
        code = context.pressed.arg
        return await (self.view(context, code.upper()) if _CODE.fullmatch(code) else _unknown(context))

    def _pressed_procedure(self, context: Context) -> Procedure | None:
        """`dossier:<action>:<procedure id>`, the id checked against the catalogue."""
        return self.procedures.get(context.pressed.arg)

    async def begin_pressed(self, context: Context) -> list[Reply]:
        procedure = self._pressed_procedure(context)
        return await (self.begin(context, procedure) if procedure is not None else _unknown(context))

    async def consent_pressed(self, context: Context) -> list[Reply]:
        procedure = self._pressed_procedure(context)
        return await (self.consent(context, procedure) if procedure is not None else _unknown(context))

    async def info_pressed(self, context: Context) -> list[Reply]:
        procedure = self._pressed_procedure(context)
        return [self._info(context, procedure)] if procedure is not None else await _unknown(context)

    async def pending(self, context: Context) -> list[Reply] | None:
        """A typed "có"/"không" to the question just asked; anything else goes to normal routing. A stop
        ("hủy", "thôi", "dừng") leaves: at the consent question it is its «no», at the confirmation
        (whose «no» lists the other procedures) the polite "cancelled"."""
        assert context.state is not None
        data = context.state.data
        context.set_state(None)
        if data.get("step") == "confirm" and wants_out(context):
            return cancelled(context)
        procedure = self.procedures.get(str(data.get("procedure", "")))
        text = context.incoming.text
        answer = yes_no(text) if text and context.incoming.button is None else None
        if procedure is None or not isinstance(answer, Valid):
            return None
        if data.get("step") == "consent":
            return await (self.consent(context, procedure) if answer.value else self.refuse(context))
        if answer.value:
            return await self.begin(context, procedure)
        return [self._list(context, "dossier.pick", "pick")]


async def _unknown(context: Context) -> list[Reply]:
    return [menu_reply(context, "unknown_button")]


def completion_name(procedure: Procedure) -> str:
    return f"dossier:{procedure.id}"


def completion(flow: DossierFlow, procedure: Procedure) -> Completion:
    async def done(context: Context, values: dict[str, Any]) -> list[Reply]:
        return await flow.complete(context, procedure, values)
    return done
