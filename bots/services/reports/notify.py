"""Notices about a village report, through the outbox in the same transaction as the change: to the
reporter and the authors of linked reports, to the assigned staff member, to staff for a new report.
Each outbox key names the event and the recipient, so a notice is queued at most once.

They take the session and the services, not a chat turn, so that the dashboard can act on a report
and notify in the same way."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from backends.reports.store import Report, ReportEvent, audience, resolution_of
from bots.dialogue.base import Services
from bots.dialogue.notify import notify
from core.identity import users_with_role
from core.media import media_url
from core.messages import Button, Reply
from core.models import User

PUBLIC_FAMILY = "report"  # the villager's buttons: checked in the flow (own report only)
STAFF_FAMILY = "report-admin"  # staff-only, checked in core (declared in unit.py)


def kind_label(services: Services, kind: str, lang: str) -> str:
    return services.catalogue.t(f"report.kind.{kind}", lang)


def hamlet_label(services: Services, hamlet_id: str | None, lang: str) -> str:
    hamlet = services.commune.hamlet(hamlet_id or "")
    return hamlet.name if hamlet is not None else services.catalogue.t("report.hamlet_unknown", lang)


async def notify_reporters(session: AsyncSession, services: Services, report: Report, event: ReportEvent, *,
                           skip: int | None = None) -> int:
    """Everyone following the report hears of the change; a resolution asks them whether it is fixed.
    Returns how many were told."""
    t = services.catalogue.t
    sent = 0
    for user in await audience(session, report):
        if user.id == skip:
            continue
        lang = user.language
        params = {"code": report.code, "kind": kind_label(services, report.kind, lang)}
        buttons: tuple[Button, ...] = ()
        image = None
        if event.action == "resolved":
            params["note"] = resolution_of(services.cipher, report)
            buttons = (Button(t("report.button.fixed", lang), f"{PUBLIC_FAMILY}:fixed:{report.code}",
                              means="yes"),
                       Button(t("report.button.not_fixed", lang), f"{PUBLIC_FAMILY}:notfixed:{report.code}",
                              means="no"))
            if report.resolution_photo_id:
                image = media_url(services.hasher, services.settings.public_url, report.resolution_photo_id)
        reply = Reply(t(f"report.notify.{event.action}", lang, **params), buttons, image_url=image)
        await notify(session, services, user, reply, f"report-event:{event.id}:{user.id}")
        sent += 1
    return sent


async def notify_assignee(session: AsyncSession, services: Services, report: Report, event: ReportEvent, *,
                          actor: int | None = None) -> None:
    """The staff member in charge (unless they made the change) hears that the reporter confirmed the
    fix, or that it is not fixed."""
    if report.assignee_id is None or report.assignee_id == actor:
        return
    staff = await session.get(User, report.assignee_id)
    if staff is None:
        return
    t = services.catalogue.t
    button = Button(t("report_staff.button.open", staff.language, code=report.code),
                    f"{STAFF_FAMILY}:open:{report.code}")
    text = t(f"report_staff.notify.{event.action}", staff.language, code=report.code,
             kind=kind_label(services, report.kind, staff.language))
    await notify(session, services, staff, Reply(text, (button,)), f"report-event:{event.id}:{staff.id}")


async def notify_staff_new(session: AsyncSession, services: Services, report: Report,
                           event: ReportEvent) -> None:
    """The commune's operations centre hears of every new report of the commune, with buttons to open
    and take it."""
    t = services.catalogue.t
    for staff in await users_with_role(session, "staff", exclude=report.reporter_id,
                                       commune=services.commune.code):
        lang = staff.language
        text = t("report_staff.notify.new", lang, code=report.code,
                 kind=kind_label(services, report.kind, lang),
                 hamlet=hamlet_label(services, report.hamlet_id, lang))
        buttons = tuple(Button(t(f"report_staff.button.{action}", lang, code=report.code),
                               f"{STAFF_FAMILY}:{action}:{report.code}") for action in ("open", "assign"))
        await notify(session, services, staff, Reply(text, buttons), f"report-event:{event.id}:{staff.id}")
