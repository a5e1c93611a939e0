"""The staff side of the one-stop office: the queue, a dossier's details, and the decisions.

Commands `/dossiers`, `/dossier CODE`, `/approve CODE`, `/reject CODE REASON`, `/request CODE TEXT`
and buttons `dossier-admin:<action>:<CODE>` are allowed to staff by core (core/roles.py) before they
get here. Reject and request buttons cannot carry the words, so they open a short conversation state
that takes the next text; that text arrives as a plain message, which core does not check, so the
role is checked again here. Every view and every decision, refused or done, is audited.

Staff work on their commune's dossiers only (`context.services.commune`, the commune of the turn): the
queue lists them, and a code of another commune, typed or on a button, is "not found" like a code that
does not exist.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backends.onestop.answers import answers_of
from backends.onestop.catalogue import ProcedureCatalogue, local
from backends.onestop.store import Dossier, history, read_values
from backends.onestop.workflow import (
    Moved,
    WorkflowError,
    check,
    dossier_by_code,
    open_dossiers,
    transition,
)
from bots.dialogue.base import Context
from bots.services.dossiers.notify import STAFF_FAMILY, notify_citizen
from bots.services.dossiers.rating import average_line, staff_line
from core import answers
from core.forms import FieldSpec
from core.media import media_url
from core.messages import Button, Reply
from core.models import utcnow
from core.roles import only
from core.state import State
from core.timezones import VIETNAM

FLOW = "dossier-staff"
CODE = re.compile(r"[A-Za-z]{2,4}-\d{4}-\d{6}")
# Decisions a staff button may ask for; reject and request need words, asked for next.
_NEEDS_WORDS = {"reject": "rejected", "request": "needs_info"}

# Runs inside the approving transaction, once the move is recorded. The signed result (core/signing.py,
# issue 6 part 4) attaches here: sign the dossier's result and return the replies (a document link, a
# verification code) to send to the citizen with the approval notice. Raising rolls the approval back.
ApprovalHook = Callable[[Context, Dossier, Moved], Awaitable[Sequence[Reply]]]
STAFF = only("staff")  # who may go on with a pending staff answer (the role is checked again)


def _date(day: dt.date) -> str:
    return day.strftime("%d/%m/%Y")


def _moment(at: dt.datetime) -> str:
    return at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")


def _pressed_code(context: Context) -> str | None:
    """`dossier-admin:<action>:<CODE>` → the code, upper-cased; a bad one → None."""
    code = context.pressed.arg.upper()
    return code if CODE.fullmatch(code) else None


def _split_args(context: Context) -> tuple[str | None, str]:
    """`/reject LB-2026-000001 thiếu giấy` → ("LB-2026-000001", "thiếu giấy"); a bad code → None."""
    code, _, rest = context.args.partition(" ")
    return (code.upper() if CODE.fullmatch(code) else None), rest.strip()


@dataclass
class StaffDesk:
    procedures: ProcedureCatalogue
    approval_hooks: tuple[ApprovalHook, ...] = ()
    clock: Callable[[], dt.datetime] = field(default=utcnow)

    def _procedure(self, context: Context, dossier: Dossier) -> str:
        procedure = self.procedures.get(dossier.procedure_id)
        return procedure.name_in(context.lang) if procedure else dossier.procedure_id

    def _status(self, context: Context, status: str) -> str:
        return context.t(f"dossier.status.{status}")

    def _today(self) -> dt.date:
        return self.clock().astimezone(VIETNAM).date()

    # -- the queue and one dossier

    async def queue(self, context: Context) -> list[Reply]:
        dossiers, total = await open_dossiers(context.session, commune=context.services.commune.code)
        context.audit("dossier.queue", detail={"open": total})
        if not dossiers:
            return [Reply(context.t("dossier_staff.queue_empty") + await average_line(context))]
        today = self._today()
        lines = [context.t(f"dossier_staff.queue_{'overdue_line' if d.due_date < today else 'line'}",
                           code=d.code, procedure=self._procedure(context, d),
                           status=self._status(context, d.status), due=_date(d.due_date))
                 for d in dossiers]
        hidden = total - len(dossiers)
        more = context.t("dossier_staff.queue_more", count=hidden) if hidden > 0 else ""
        text = context.t("dossier_staff.queue", count=total, lines="\n".join(lines), more=more)
        text += await average_line(context)
        return [Reply(text, tuple(Button(d.code, f"{STAFF_FAMILY}:open:{d.code}") for d in dossiers))]

    async def show_command(self, context: Context) -> list[Reply]:
        code, _ = _split_args(context)
        if code is None:
            return [Reply(context.t("dossier_staff.usage.dossier"))]
        return await self.show(context, code)

    async def show(self, context: Context, code: str) -> list[Reply]:
        dossier = await self._find(context, code, "dossier.staff_view")
        if dossier is None:
            return [Reply(context.t("dossier_staff.not_found", code=code))]
        context.audit("dossier.staff_view", subject=f"dossier:{dossier.code}")
        text = context.t(
            "dossier_staff.view", code=dossier.code, procedure=self._procedure(context, dossier),
            status=self._status(context, dossier.status), submitted=_moment(dossier.submitted_at),
            due=_date(dossier.due_date), user=dossier.user_id,
            overdue=context.t("dossier_staff.overdue") if self._is_overdue(dossier) else "",
            values=self._values(context, dossier), papers=self._papers(context, dossier),
            answers=await self._answers(context, dossier), history=await self._history(context, dossier),
        ) + await staff_line(context, dossier)
        return [Reply(text, self._action_buttons(context, dossier))]

    def _is_overdue(self, dossier: Dossier) -> bool:
        return dossier.status in ("received", "processing", "needs_info") and dossier.due_date < self._today()

    def _values(self, context: Context, dossier: Dossier) -> str:
        procedure = self.procedures.get(dossier.procedure_id)
        specs = {spec.name: spec for spec in procedure.form.fields} if procedure else {}
        lines = []
        for name, value in read_values(context.services.cipher, dossier).items():
            spec = specs.get(name)
            label = local(spec.label or spec.prompt, context.lang) if spec else name
            lines.append(f"• {label}: {_display(context, spec, value)}")
        return "\n".join(lines) or context.t("dossier.no_papers")

    def _link(self, context: Context, media_id: str) -> str:
        return media_url(context.services.hasher, context.services.settings.public_url, media_id)

    def _papers(self, context: Context, dossier: Dossier) -> str:
        procedure = self.procedures.get(dossier.procedure_id)
        lines = []
        for name, media_id in dossier.papers.items():
            paper = procedure.paper_named(name) if procedure else None
            label = local(paper.label, context.lang) if paper else name
            lines.append(f"• {label}: {self._link(context, media_id)}")
        return "\n".join(lines) or context.t("dossier.no_papers")

    async def _answers(self, context: Context, dossier: Dossier) -> str:
        answers = await answers_of(context.session, context.services.cipher, dossier)
        if not answers:
            return ""
        lines = [f"• {_moment(a.at)}: {a.text if a.text else self._link(context, a.media_id or '')}"
                 for a in answers]
        return context.t("dossier_staff.answers", lines="\n".join(lines))

    async def _history(self, context: Context, dossier: Dossier) -> str:
        return "\n".join(
            context.t("dossier_staff.history_line", at=_moment(e.at), status=self._status(context, e.status),
                      actor=e.actor, note=f": {e.note}" if e.note else "")
            for e in await history(context.session, dossier.id)
        )

    def _action_buttons(self, context: Context, dossier: Dossier) -> tuple[Button, ...]:
        def button(action: str) -> Button:
            label = context.t(f"dossier_staff.button.{action}")
            return Button(label, f"{STAFF_FAMILY}:{action}:{dossier.code}")

        actions = {
            "received": ("take", "approve", "reject", "request"),
            "processing": ("approve", "reject", "request"),
            "needs_info": ("reject",),
            "approved": ("deliver",),
        }.get(dossier.status, ())
        return (*(button(action) for action in actions),
                Button(context.t("dossier_staff.button.queue"), f"{STAFF_FAMILY}:queue"))

    async def _find(self, context: Context, code: str, action: str) -> Dossier | None:
        dossier = await dossier_by_code(context.session, code, commune=context.services.commune.code)
        if dossier is None:
            context.audit(action, subject=f"dossier:{code[:24]}", outcome="not_found")
        return dossier

    # -- decisions

    async def approve(self, context: Context) -> list[Reply]:
        code, _ = _split_args(context)
        if code is None:
            return [Reply(context.t("dossier_staff.usage.approve"))]
        return await self.decide(context, code, "approved")

    async def reject(self, context: Context) -> list[Reply]:
        code, reason = _split_args(context)
        if code is None:
            return [Reply(context.t("dossier_staff.usage.reject"))]
        return await self.decide(context, code, "rejected", reason)

    async def request(self, context: Context) -> list[Reply]:
        code, text = _split_args(context)
        if code is None:
            return [Reply(context.t("dossier_staff.usage.request"))]
        return await self.decide(context, code, "needs_info", text)

    async def decide(self, context: Context, code: str, wanted: str, note: str | None = None) -> list[Reply]:
        dossier = await self._find(context, code, f"dossier.{wanted}")
        if dossier is None:
            return [Reply(context.t("dossier_staff.not_found", code=code))]
        try:
            if dossier.status == "received" and wanted != "processing":
                check("processing", wanted, note)  # refuse before taking it up, so nothing half-happens
                await self._move(context, dossier, "processing", None)
            moved = await self._move(context, dossier, wanted, note)
        except WorkflowError as refused:
            context.audit(f"dossier.{wanted}", subject=f"dossier:{dossier.code}", outcome="refused",
                          detail={"from": refused.current, "to": refused.wanted, "reason": refused.code})
            return [Reply(context.t(f"dossier_staff.refused.{refused.code}", code=dossier.code,
                                    status=self._status(context, refused.current),
                                    wanted=self._status(context, refused.wanted)),
                          self._action_buttons(context, dossier))]
        text = context.t(f"dossier_staff.done.{wanted}", code=dossier.code, note=moved.event.note or "")
        return [Reply(text, self._action_buttons(context, dossier))]

    async def _move(self, context: Context, dossier: Dossier, wanted: str, note: str | None) -> Moved:
        moved = await transition(context.session, dossier, wanted, actor=f"user:{context.identity.id}",
                                 note=note, now=self.clock())
        context.audit("dossier.transition", subject=f"dossier:{dossier.code}",
                      detail={"from": moved.previous, "to": wanted, "event": moved.event.id})
        extra: list[Reply] = []
        if wanted == "approved":
            for hook in self.approval_hooks:
                extra.extend(await hook(context, dossier, moved))
        await notify_citizen(context, dossier, moved.event, self.procedures.get(dossier.procedure_id), extra)
        return moved

    # -- buttons and the words they ask for

    @staticmethod
    async def unknown(context: Context) -> list[Reply]:
        return [Reply(context.t("unknown_button"))]

    async def open_pressed(self, context: Context) -> list[Reply]:
        code = _pressed_code(context)
        return await (self.show(context, code) if code else self.unknown(context))

    async def take(self, context: Context) -> list[Reply]:
        return await self._decide_pressed(context, "processing")

    async def approve_pressed(self, context: Context) -> list[Reply]:
        return await self._decide_pressed(context, "approved")

    async def deliver(self, context: Context) -> list[Reply]:
        return await self._decide_pressed(context, "delivered")

    async def _decide_pressed(self, context: Context, wanted: str) -> list[Reply]:
        code = _pressed_code(context)
        return await (self.decide(context, code, wanted) if code else self.unknown(context))

    async def ask_words(self, context: Context) -> list[Reply]:
        """Reject and request: the reason or the missing item is the next text (`pending`)."""
        action, code = context.pressed.action, _pressed_code(context)
        if code is None or action not in _NEEDS_WORDS:
            return await self.unknown(context)
        if await self._find(context, code, f"dossier.{_NEEDS_WORDS[action]}") is None:
            return [Reply(context.t("dossier_staff.not_found", code=code))]  # nothing to give words for
        context.set_state(State(FLOW, {"action": action, "code": code}))
        return [Reply(context.t(f"dossier_staff.ask.{action}", code=code))]

    async def pending(self, context: Context) -> list[Reply] | None:
        """The reason or request text after a reject/request button; anything else ends the wait."""
        assert context.state is not None
        data = context.state.data
        context.set_state(None)
        text = (context.incoming.text or "").strip()
        if context.incoming.button is not None or not text or text.startswith("/"):
            return None
        if not context.identity.has_any(STAFF.roles):
            context.audit("authorize", subject=f"state:{FLOW}", outcome="deny")
            return [Reply(context.t("role.denied"))]
        if answers.is_cancel(text, strict=True):  # a stop word alone: the reason is free text
            return [Reply(context.t("cancelled"))]
        wanted = _NEEDS_WORDS.get(str(data.get("action")))
        code = str(data.get("code", ""))
        if wanted is None or not CODE.fullmatch(code):
            return None
        return await self.decide(context, code, wanted, text)


def _display(context: Context, spec: FieldSpec | None, value: Any) -> str:
    if value is None:
        return context.t("form.value.skipped")
    if spec is not None and spec.type == "yes_no":
        return context.t("form.button.yes" if value else "form.button.no")
    if spec is not None and spec.type == "date" and isinstance(value, str):
        try:
            return _date(dt.date.fromisoformat(value))
        except ValueError:
            return value
    option = spec.option(str(value)) if spec is not None and spec.type == "choice" else None
    return local(option.label, context.lang) if option else str(value)
