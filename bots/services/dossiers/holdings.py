"""What the one-stop desk keeps about a villager, declared for the account's /mydata
(bots/services/account/): the phone numbers declared in dossiers (the card), the dossiers with what was
declared, the papers, the history and the signed results (the export), and the applicant's part of an
erasure.

Dossiers stay with their code, procedure, history and signed result (backends/onestop/mydata.py); the
declared values and papers go, the history records it, and for a dossier still in progress the staff
are told it cannot go on.
"""

from __future__ import annotations

from typing import Any

from backends.onestop.catalogue import FORM_PREFIX
from backends.onestop.mydata import dossiers_of, forget_user
from backends.onestop.mydata import export_user as export_dossiers
from backends.onestop.store import Dossier, read_values, record_event
from bots.dialogue.base import Context
from bots.dialogue.notify import notify
from bots.dialogue.service import Erased, Holdings
from bots.services.dossiers.notify import STAFF_FAMILY
from core.i18n import local
from core.identity import users_with_role
from core.messages import Button, Reply
from core.models import utcnow

# After the orders, appointments and consults in the deletion warning and the farewell.
POSITION = 30
FINISHED = ("rejected", "delivered")
IN_PROGRESS = ("received", "processing", "needs_info")
HISTORY_LANG = "vi"  # a dossier's history is the commune's record, written in its language


def _procedure(context: Context, dossier: Dossier, lang: str) -> str:
    spec = context.services.forms.specs.get(FORM_PREFIX + dossier.procedure_id)
    return local(spec.title, lang) if spec is not None else dossier.procedure_id


async def phones(context: Context) -> list[tuple[str, str]]:
    """Each phone number declared in a dossier (its form's phone fields; stored sealed), with the code."""
    given = []
    for dossier in await dossiers_of(context.session, context.identity.id):
        spec = context.services.forms.specs.get(FORM_PREFIX + dossier.procedure_id)
        names = {f.name for f in spec.fields if f.type == "phone"} if spec else {"phone"}
        values = read_values(context.services.cipher, dossier)
        for phone in {str(values[name]) for name in names if values.get(name)}:
            given.append((phone, dossier.code))
    return given


async def export(context: Context) -> list[dict[str, Any]]:
    return await export_dossiers(context.session, context.services.cipher, context.identity.id)


async def open_items(context: Context) -> list[str]:
    """The dossiers not finished: in progress, or approved and not yet handed over."""
    return [_dossier_line(context, d) for d in await dossiers_of(context.session, context.identity.id)
            if d.status not in FINISHED]


def _dossier_line(context: Context, dossier: Dossier) -> str:
    key = ("dossier.mydata.open.dossier" if dossier.status in IN_PROGRESS else
           "dossier.mydata.open.dossier_kept")
    return context.t(key, code=dossier.code, procedure=_procedure(context, dossier, context.lang),
                     status=context.t(f"dossier.status.{dossier.status}"))


async def erase(context: Context) -> Erased:
    session, user_id = context.session, context.identity.id
    dossiers = await dossiers_of(session, user_id)
    if not dossiers:
        return Erased()
    forgotten = await forget_user(session, context.services.cipher, user_id)
    note = context.services.catalogue.t("dossier.mydata.history_note", HISTORY_LANG)
    now = utcnow()
    for dossier in dossiers:
        await record_event(session, dossier, dossier.status, actor=f"user:{user_id}", at=now, note=note)
        if dossier.status in IN_PROGRESS:
            await _tell_staff(context, dossier)
    context.audit("mydata.dossiers_forgotten", subject=f"user:{user_id}",
                  detail={"dossiers": forgotten.dossiers, "papers": forgotten.papers})
    return Erased(done=[context.t("dossier.mydata.done.dossiers", codes=", ".join(d.code for d in dossiers))])


async def _tell_staff(context: Context, dossier: Dossier) -> None:
    """The one-stop staff of the dossier's commune learn that a dossier in progress lost its declared
    values and papers."""
    t = context.services.catalogue.t
    for official in await users_with_role(context.session, "staff", exclude=context.identity.id,
                                          commune=dossier.commune):
        lang = official.language
        text = t("dossier.mydata.notify.dossier_erased", lang, code=dossier.code,
                 procedure=_procedure(context, dossier, lang),
                 status=t(f"dossier.status.{dossier.status}", lang))
        button = Button(t("dossier_staff.button.open", lang), f"{STAFF_FAMILY}:open:{dossier.code}")
        await notify(context.session, context.services, official, Reply(text, (button,)),
                     f"dossier-erased:{dossier.code}:{official.id}")


HOLDINGS = Holdings(position=POSITION, phones=phones, export={"dossiers": export}, open_items=open_items,
                    erase=erase)
