"""Village reports, the staff side: `/reports` (open reports, oldest first, filtered by hamlet or kind
with buttons), one report's details, assign to me, resolve with a note and optionally a photo.

`/reports` and `report-admin:` buttons are allowed to staff by core (core/roles.py). The resolution
note (and photo) arrives as the staff member's next plain message, which core does not check, so the
role is checked again here. Every view and every action, refused or done, is audited.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from backends.addresses.hamlets import Hamlets
from backends.reports.kinds import KINDS, recognise
from backends.reports.queries import linked_counts, open_reports
from backends.reports.store import (
    OPEN_STATUSES,
    Report,
    ReportRefused,
    assign,
    description_of,
    history,
    links_of,
    report_by_code,
    resolution_of,
    resolve,
    unseal,
)
from bots.dialogue.base import Context
from bots.dialogue.uploads import store_upload
from bots.services.reports.notify import STAFF_FAMILY, hamlet_label, kind_label, notify_reporters
from core import answers
from core.media import media_url
from core.messages import Button, Reply
from core.models import utcnow
from core.roles import only
from core.state import State
from core.text import fold
from core.timezones import VIETNAM

FLOW = "report-staff"
CODE = re.compile(r"PA-\d{6}", re.IGNORECASE)
LIST_LIMIT = 8
MAX_NOTE = 1000
STAFF = only("staff")  # who may go on with a pending staff answer (the role is checked again)


def _pressed_code(context: Context) -> str | None:
    """`report-admin:<action>:<PA-NNNNNN>` → the code, upper-cased; a bad one → None."""
    code = context.pressed.arg.upper()
    return code if CODE.fullmatch(code) else None


def _moment(at: dt.datetime) -> str:
    return at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")


def _age(context: Context, since: dt.datetime, now: dt.datetime) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    hours = minutes // 60
    if hours < 1:
        return context.t("report_staff.age_minutes", minutes=minutes)
    if hours < 48:
        return context.t("report_staff.age_hours", hours=hours)
    return context.t("report_staff.age_days", days=hours // 24)


@dataclass
class ReportStaffDesk:
    clock: Callable[[], dt.datetime] = field(default=utcnow)

    def _hamlets(self, context: Context) -> Hamlets:
        return Hamlets.from_commune(context.services.commune)

    def _link(self, context: Context, media_id: str) -> str:
        return media_url(context.services.hasher, context.services.settings.public_url, media_id)

    # -- the list

    async def command(self, context: Context) -> list[Reply]:
        """`/reports`, `/reports PA-000001`, `/reports <hamlet>`, `/reports <kind>`."""
        arg = context.args.strip()
        if not arg:
            return await self.listing(context)
        if CODE.fullmatch(arg):
            return await self.show(context, arg.upper())
        hamlets = self._hamlets(context)
        wanted = fold(arg).removeprefix("xom ").strip()
        for hamlet in hamlets:
            if wanted in (fold(hamlet.name).removeprefix("xom ").strip(), hamlet.id):
                return await self.listing(context, hamlet_id=hamlet.id)
        kind = arg if arg in KINDS else recognise(arg)
        if kind is not None:
            return await self.listing(context, kind=kind)
        return [Reply(context.t("report_staff.usage"), self._filter_buttons(context))]

    async def listing(self, context: Context, *, hamlet_id: str | None = None,
                      kind: str | None = None) -> list[Reply]:
        reports, total = await open_reports(context.session, hamlet_id=hamlet_id, kind=kind, limit=LIST_LIMIT,
                                            commune=context.services.commune.code)
        context.audit("report.queue", detail={"open": total, "hamlet": hamlet_id, "kind": kind})
        services, lang = context.services, context.lang
        scope = ", ".join(part for part in (
            hamlet_label(services, hamlet_id, lang) if hamlet_id else "",
            kind_label(services, kind, lang) if kind else "") if part)
        scope = f" ({scope})" if scope else ""
        if not reports:
            return [Reply(context.t("report_staff.empty", scope=scope), self._filter_buttons(context))]
        now = self.clock()
        links = await linked_counts(context.session, [r.id for r in reports])
        lines = [context.t(
            "report_staff.line", code=r.code, kind=kind_label(services, r.kind, lang),
            hamlet=hamlet_label(services, r.hamlet_id, lang), age=_age(context, r.created_at, now),
            status=context.t(f"report.status.{r.status}"),
            linked=context.t("report_staff.linked_count", count=links[r.id]) if links.get(r.id) else "",
        ) for r in reports]
        hidden = total - len(reports)
        more = context.t("report_staff.more", count=hidden) if hidden > 0 else ""
        buttons: list[Button] = []
        for report in reports:
            buttons.append(Button(context.t("report_staff.button.open", code=report.code),
                                  f"{STAFF_FAMILY}:open:{report.code}"))
            if report.assignee_id != context.identity.id:
                buttons.append(Button(context.t("report_staff.button.assign", code=report.code),
                                      f"{STAFF_FAMILY}:assign:{report.code}"))
            buttons.append(Button(context.t("report_staff.button.resolve", code=report.code),
                                  f"{STAFF_FAMILY}:resolve:{report.code}"))
        text = context.t("report_staff.list", count=total, scope=scope, lines="\n".join(lines), more=more)
        return [Reply(text, (*buttons, *self._filter_buttons(context)))]

    def _filter_buttons(self, context: Context) -> tuple[Button, ...]:
        return (Button(context.t("report_staff.button.by_hamlet"), f"{STAFF_FAMILY}:filter:hamlet"),
                Button(context.t("report_staff.button.by_kind"), f"{STAFF_FAMILY}:filter:kind"),
                Button(context.t("report_staff.button.all"), f"{STAFF_FAMILY}:list"))

    def _filter_choices(self, context: Context, what: str) -> list[Reply]:
        if what == "hamlet":
            buttons = [Button(h.name, f"{STAFF_FAMILY}:list:h={h.id}") for h in self._hamlets(context)]
        else:
            buttons = [Button(kind_label(context.services, k, context.lang), f"{STAFF_FAMILY}:list:k={k}")
                       for k in KINDS]
        return [Reply(context.t(f"report_staff.pick_{what}"), tuple(buttons))]

    # -- one report

    async def _find(self, context: Context, code: str, action: str) -> Report | None:
        """The report of the staff member's commune with `code`: another commune's is not found."""
        report = await report_by_code(context.session, code, commune=context.services.commune.code)
        if report is None:
            context.audit(action, subject=f"report:{code[:16]}", outcome="not_found")
        return report

    async def show(self, context: Context, code: str) -> list[Reply]:
        report = await self._find(context, code, "report.view")
        if report is None:
            return [Reply(context.t("report_staff.not_found", code=code))]
        context.audit("report.view", subject=f"report:{report.code}")
        services, cipher = context.services, context.services.cipher
        where = (context.t("report_staff.where_point", lat=f"{report.lat:.5f}", lon=f"{report.lon:.5f}")
                 if report.lat is not None and report.lon is not None else "")
        linked = [f"• {_moment(link.created_at)}: {unseal(cipher, link.description_enc, 'link', link.id)}"
                  + (f" {self._link(context, link.photo_id)}" if link.photo_id else "")
                  for link in await links_of(context.session, report.id)]
        events = [context.t("report_staff.history_line", at=_moment(e.at),
                            action=context.t(f"report_staff.action.{e.action}"), actor=e.actor)
                  for e in await history(context.session, report.id)]
        text = context.t(
            "report_staff.view", code=report.code, kind=kind_label(services, report.kind, context.lang),
            hamlet=hamlet_label(services, report.hamlet_id, context.lang), where=where,
            status=context.t(f"report.status.{report.status}"), at=_moment(report.created_at),
            description=description_of(cipher, report),
            photo=context.t("report_staff.photo", url=self._link(context, report.photo_id))
            if report.photo_id else "",
            assignee=f"#{report.assignee_id}" if report.assignee_id else "—",
            resolution=context.t("report_staff.resolution", note=resolution_of(cipher, report))
            if report.resolution_enc else "",
            linked=context.t("report_staff.linked", lines="\n".join(linked)) if linked else "",
            history="\n".join(events),
        )
        return [Reply(text, self._actions(context, report))]

    def _actions(self, context: Context, report: Report) -> tuple[Button, ...]:
        buttons = []
        if report.status in OPEN_STATUSES:
            if report.assignee_id != context.identity.id:
                buttons.append(Button(context.t("report_staff.button.assign", code=report.code),
                                      f"{STAFF_FAMILY}:assign:{report.code}"))
            buttons.append(Button(context.t("report_staff.button.resolve", code=report.code),
                                  f"{STAFF_FAMILY}:resolve:{report.code}"))
        buttons.append(Button(context.t("report_staff.button.all"), f"{STAFF_FAMILY}:list"))
        return tuple(buttons)

    # -- assign and resolve

    async def assign(self, context: Context, code: str) -> list[Reply]:
        report = await self._find(context, code, "report.assign")
        if report is None:
            return [Reply(context.t("report_staff.not_found", code=code))]
        try:
            event = await assign(context.session, report, context.identity.id, self.clock())
        except ReportRefused as refused:
            return self._refused(context, report, "report.assign", refused)
        context.audit("report.assign", subject=f"report:{report.code}", detail={"event": event.id})
        await notify_reporters(context.session, context.services, report, event)
        return [Reply(context.t("report_staff.assigned", code=report.code), self._actions(context, report))]

    def _refused(self, context: Context, report: Report, action: str, refused: ReportRefused) -> list[Reply]:
        context.audit(action, subject=f"report:{report.code}", outcome="refused",
                      detail={"status": refused.status})
        return [Reply(context.t("report_staff.refused", code=report.code,
                                status=context.t(f"report.status.{refused.status}")),
                      self._actions(context, report))]

    async def ask_resolution(self, context: Context, code: str) -> list[Reply]:
        report = await self._find(context, code, "report.resolve")
        if report is None:
            return [Reply(context.t("report_staff.not_found", code=code))]
        if report.status not in OPEN_STATUSES:
            return self._refused(context, report, "report.resolve", ReportRefused(report.status, "resolved"))
        context.set_state(State(FLOW, {"code": report.code}))
        return [Reply(context.t("report_staff.ask_note", code=report.code))]

    async def pending(self, context: Context) -> list[Reply] | None:
        """The note (and maybe a photo first) after a resolve button; anything else ends the wait."""
        assert context.state is not None
        data = dict(context.state.data)
        code = str(data.get("code", ""))
        context.set_state(None)
        incoming = context.incoming
        text = (incoming.text or "").strip()
        if incoming.attachment is None and (incoming.button is not None or not text or text.startswith("/")):
            return None
        if not context.identity.has_any(STAFF.roles):
            context.audit("authorize", subject=f"state:{FLOW}", outcome="deny")
            return [Reply(context.t("role.denied"))]
        if not CODE.fullmatch(code):
            return None
        if incoming.attachment is not None:
            stored = await store_upload(context)
            if isinstance(stored, Reply):
                context.set_state(State(FLOW, data))
                return [stored]
            data["photo"] = stored
            context.set_state(State(FLOW, data))
            return [Reply(context.t("report_staff.photo_kept", code=code))]
        if answers.is_cancel(text, strict=True):  # a stop word alone: the note is free text
            return [Reply(context.t("cancelled"))]
        if len(text) > MAX_NOTE:
            context.set_state(State(FLOW, data))
            return [Reply(context.t("report_staff.note_long", limit=MAX_NOTE))]
        return await self.resolve(context, code, text, data.get("photo"))

    async def resolve(self, context: Context, code: str, note: str, photo: str | None) -> list[Reply]:
        report = await self._find(context, code, "report.resolve")
        if report is None:
            return [Reply(context.t("report_staff.not_found", code=code))]
        try:
            event = await resolve(context.session, context.services.cipher, report,
                                  staff_id=context.identity.id, note=note, photo_id=photo, now=self.clock())
        except ReportRefused as refused:
            return self._refused(context, report, "report.resolve", refused)
        context.audit("report.resolve", subject=f"report:{report.code}",
                      detail={"event": event.id, "photo": photo is not None})
        told = await notify_reporters(context.session, context.services, report, event)
        return [Reply(context.t("report_staff.resolved", code=report.code, count=told),
                      (Button(context.t("report_staff.button.all"), f"{STAFF_FAMILY}:list"),))]

    # -- the `report-admin:<action>[:<argument>]` buttons (bots/services/reports/unit.py)

    async def list_pressed(self, context: Context) -> list[Reply]:
        """All open reports, or those of a hamlet (`h=<id>`) or of a kind (`k=<kind>`)."""
        filter_kind, _, value = context.pressed.arg.partition("=")
        if filter_kind == "h" and self._hamlets(context).get(value):
            return await self.listing(context, hamlet_id=value)
        if filter_kind == "k" and value in KINDS:
            return await self.listing(context, kind=value)
        return await self.listing(context)

    async def filter_pressed(self, context: Context) -> list[Reply]:
        by = context.pressed.arg
        return self._filter_choices(context, by) if by in ("hamlet", "kind") else await self.unknown(context)

    async def open_pressed(self, context: Context) -> list[Reply]:
        code = _pressed_code(context)
        return await (self.show(context, code) if code else self.unknown(context))

    async def assign_pressed(self, context: Context) -> list[Reply]:
        code = _pressed_code(context)
        return await (self.assign(context, code) if code else self.unknown(context))

    async def resolve_pressed(self, context: Context) -> list[Reply]:
        code = _pressed_code(context)
        return await (self.ask_resolution(context, code) if code else self.unknown(context))

    @staticmethod
    async def unknown(context: Context) -> list[Reply]:
        return [Reply(context.t("unknown_button"))]
