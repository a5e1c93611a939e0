"""Village reports: a villager reports a problem (what, where, a photo), staff assign and resolve it,
the villager confirms or reopens."""

from __future__ import annotations

from bots.dashboard.reports import report_figures_section, report_layer
from bots.dialogue.service import Buttons, Command, DeskButton, MenuEntry, Panel, Service
from bots.services.kit import Kit
from bots.services.reports import holdings
from bots.services.reports.notify import PUBLIC_FAMILY, STAFF_FAMILY
from bots.services.reports.staff import FLOW as STAFF_FLOW
from bots.services.reports.staff import ReportStaffDesk
from bots.services.reports.villager import FLOW, ReportDesk
from core.roles import PUBLIC, only

# The modules defining its tables (migrations/env.py imports them).
TABLES: tuple[str, ...] = ("backends.reports.store",)


def service(kit: Kit) -> Service:
    desk, staff = ReportDesk(), ReportStaffDesk()
    return Service(
        name="reports",
        intents={"report_problem": desk.start},
        states={FLOW: desk.step, STAFF_FLOW: staff.pending},
        through_emergency=(FLOW,),  # a danger described in a report is still a report
        commands=(Command("/reports", only("staff"), staff.command),),
        # The villager's: «fixed» / «not fixed» on their own reports only, checked there; the others act on
        # the report being made (its conversation state), or answer that it is over.
        buttons=(Buttons(PUBLIC_FAMILY, PUBLIC, actions={
                     "fixed": desk.fixed, "notfixed": desk.not_fixed, "cancel": desk.cancel_pressed,
                     "consent": desk.consent_pressed, "kind": desk.kind_pressed,
                     "skip-photo": desk.skip_photo, "hamlet": desk.hamlet_pressed}, handler=desk.unknown),
                 Buttons(STAFF_FAMILY, only("staff"), actions={
                     "list": staff.list_pressed, "filter": staff.filter_pressed, "open": staff.open_pressed,
                     "assign": staff.assign_pressed, "resolve": staff.resolve_pressed},
                         handler=staff.unknown)),
        menu=(MenuEntry("report_problem", 120),),
        figures=(Panel(40, report_figures_section),),
        layers=(Panel(10, report_layer),),
        desk_buttons=(DeskButton("staff", "help.staff.button.reports", f"{STAFF_FAMILY}:list"),),
        events={"report.open": "opened", "report.link": "linked", "report.assign": "assigned",
                "report.resolve": "resolved", "report.confirm": "confirmed", "report.reopen": "reopened"},
        i18n=("report.", "report_staff."),
        holdings=holdings.HOLDINGS,
        desk=desk,
    )
