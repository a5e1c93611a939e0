"""One-stop dossiers ("một cửa điện tử"): the villager picks a procedure, fills its form, sends papers,
gets a tracking code and follows it; staff review, request more, approve (a signed result) or reject;
the villager answers requests and rates the service."""

from __future__ import annotations

from collections.abc import Mapping

from bots.dashboard import providers as dashboard
from bots.dialogue.service import Buttons, Command, DeskButton, MenuEntry, Panel, Service, Task
from bots.services.dossiers import answer, holdings, rating, result
from bots.services.dossiers.notify import REPLY_FAMILY, STAFF_FAMILY
from bots.services.dossiers.staff import FLOW as STAFF_FLOW
from bots.services.dossiers.staff import StaffDesk
from bots.services.dossiers.submit import FLOW, DossierFlow, completion, completion_name
from bots.services.kit import Kit
from core.pipeline import AuditScalar
from core.roles import PUBLIC, only

# The moves of a dossier that are counted, by the status they reach.
_COUNTED_MOVES = frozenset({"processing", "needs_info", "approved", "rejected", "delivered"})


# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ("backends.onestop.store", "backends.onestop.answers", "backends.onestop.ratings")


def moved_to(detail: Mapping[str, AuditScalar] | None) -> str | None:
    moved = str((detail or {}).get("to"))
    return moved if moved in _COUNTED_MOVES else None


def service(kit: Kit) -> Service:
    flow = DossierFlow(kit.procedures, kit.calendar, kit.forms)
    kit.forms.specs.update(kit.procedures.form_specs())
    for procedure in kit.procedures:
        kit.forms.on_complete(completion_name(procedure), completion(flow, procedure))
    desk = StaffDesk(kit.procedures, (result.result_signer(kit.procedures),))
    staff = only("staff")
    desk_actions = {"queue": desk.queue, "open": desk.open_pressed, "take": desk.take,
                    "approve": desk.approve_pressed, "deliver": desk.deliver, "reject": desk.ask_words,
                    "request": desk.ask_words}
    return Service(
        name="dossiers",
        intents={"dossier_submit": flow.submit, "procedure_info": flow.info, "dossier_status": flow.status},
        states={FLOW: flow.pending, STAFF_FLOW: desk.pending, answer.FLOW: answer.pending},
        commands=(Command("/dossiers", staff, desk.queue), Command("/dossier", staff, desk.show_command),
                  Command("/approve", staff, desk.approve), Command("/reject", staff, desk.reject),
                  Command("/request", staff, desk.request)),
        # An unknown citizen's action gets the menu's polite answer (its fallback).
        buttons=(Buttons("dossier", PUBLIC, actions={
                     "list": flow.listing, "mine": flow.mine, "view": flow.view_pressed,
                     "refuse": flow.refuse, "pick": flow.begin_pressed, "start": flow.begin_pressed,
                     "consent": flow.consent_pressed, "info": flow.info_pressed}),
                 Buttons(STAFF_FAMILY, staff, actions=desk_actions, handler=desk.unknown),
                 # the desk's first name, kept staff-only
                 Buttons("staff", staff, actions=desk_actions, handler=desk.unknown),
                 # the citizen's own dossier: checked in the flow
                 Buttons(REPLY_FAMILY, PUBLIC, handler=answer.button),
                 Buttons(rating.FAMILY, PUBLIC, handler=rating.rate)),
        menu=(MenuEntry("dossier_submit", 10), MenuEntry("dossier_status", 20),
              MenuEntry("procedure_info", 30)),
        desk_buttons=(DeskButton("staff", "help.staff.button.dossiers", f"{STAFF_FAMILY}:queue"),),
        events={"dossier.submit": "submitted", "dossier.answer": "answered", "dossier.signed": "signed",
                "dossier.transition": moved_to},
        metric_label="onestop",
        figures=(Panel(10, dashboard.dossiers),),
        layers=(Panel(20, dashboard.dossier_layer),),
        i18n=("dossier.", "dossier_rating.", "dossier_result.", "dossier_staff."),
        holdings=holdings.HOLDINGS,
        # Approved results whose PDF and message were never issued (the process died after the approval).
        tasks=(Task("dossier-results", result.task(kit.procedures)),),
        desk=desk,
    )
