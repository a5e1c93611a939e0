"""Notices about a dossier that go out through the outbox, in the same transaction as the change:
to the citizen on their own channel, to the officials when a dossier comes in, and to the official who
asked for a missing item.

Each outbox key names the event it is about, so a notice is queued at most once per change."""

from __future__ import annotations

from collections.abc import Sequence

from backends.onestop.catalogue import Procedure
from backends.onestop.store import Dossier, DossierEvent
from bots.dialogue.base import Context
from bots.dialogue.notify import notify
from bots.services.dossiers.rating import rating_buttons
from core.identity import users_with_role
from core.messages import Button, Reply
from core.models import User

REPLY_FAMILY = "dossier-reply"  # the citizen's "answer the request" button (public: checked in the flow)
STAFF_FAMILY = "dossier-admin"  # staff-only, checked in core (declared in unit.py)


def user_ref(actor: str) -> int | None:
    """`user:12` → 12; anything else (another system, a script) → None."""
    kind, _, number = actor.partition(":")
    return int(number) if kind == "user" and number.isdigit() else None


async def _send(context: Context, user: User, replies: Sequence[Reply], key: str) -> None:
    for number, reply in enumerate(replies):
        await notify(context.session, context.services, user, reply,
                     key if number == 0 else f"{key}:{number}")


async def notify_citizen(context: Context, dossier: Dossier, event: DossierEvent,
                         procedure: Procedure | None, extra: Sequence[Reply] = ()) -> None:
    """The citizen learns of the change: what happened, and for a request how to answer it."""
    citizen = await context.session.get(User, dossier.user_id)
    if citizen is None:
        return
    t = context.services.catalogue.t
    lang = citizen.language
    name = procedure.name_in(lang) if procedure else dossier.procedure_id
    text = t(f"dossier_staff.notify.{event.status}", lang, code=dossier.code, procedure=name,
             note=event.note or "", due=dossier.due_date.strftime("%d/%m/%Y"))
    buttons: tuple[Button, ...] = (Button(t("dossier.button.view", lang), f"dossier:view:{dossier.code}"),)
    if event.status == "needs_info":
        buttons = (Button(t("dossier_staff.button.answer", lang), f"{REPLY_FAMILY}:{dossier.code}"), *buttons)
    if event.status == "delivered":  # the 1–5 satisfaction rating (bots/services/dossiers/rating.py)
        text += t("dossier_rating.ask", lang)
        buttons = (*rating_buttons(dossier.code), *buttons)
    await _send(context, citizen, [Reply(text, buttons), *extra], f"dossier-event:{event.id}")


async def notify_requester(context: Context, dossier: Dossier, request: DossierEvent | None,
                           answer_id: int) -> None:
    """The official who asked hears that the citizen answered and the dossier is back in the queue."""
    staff_id = user_ref(request.actor) if request else None
    official = await context.session.get(User, staff_id) if staff_id is not None else None
    if official is None:
        return
    t = context.services.catalogue.t
    text = t("dossier_staff.notify.answered", official.language, code=dossier.code)
    button = Button(t("dossier_staff.button.open", official.language), f"{STAFF_FAMILY}:open:{dossier.code}")
    await _send(context, official, [Reply(text, (button,))], f"dossier-answer:{answer_id}")


async def notify_staff_new(context: Context, dossier: Dossier, procedure: Procedure) -> int:
    """The officials of the dossier's commune whose roles the procedure names hear of a new dossier at
    once, with a button to open it; no personal data in the notice. Returns how many were told."""
    officials = await users_with_role(context.session, *procedure.notify, exclude=dossier.user_id,
                                      commune=dossier.commune)
    t = context.services.catalogue.t
    for official in officials:
        lang = official.language
        text = t("dossier_staff.notify.new", lang, code=dossier.code, procedure=procedure.name_in(lang),
                 due=dossier.due_date.strftime("%d/%m/%Y"))
        button = Button(t("dossier_staff.button.open", lang), f"{STAFF_FAMILY}:open:{dossier.code}")
        await _send(context, official, [Reply(text, (button,))], f"dossier-new:{dossier.code}:{official.id}")
    return len(officials)
