"""The citizen answers a staff request for a missing item.

The request notice carries a button `dossier-reply:<CODE>`; pressing it (the code is checked again:
the dossier must be the user's own, of their commune, and waiting for them) opens a conversation
state, and the next text or photo/PDF is the answer. It is stored encrypted, the dossier goes back to
the queue (needs_info → processing) and the official who asked is told.
"""

from __future__ import annotations

from backends.onestop.answers import record_answer
from backends.onestop.store import Dossier, dossier_of_user
from backends.onestop.workflow import WorkflowError, last_request, transition
from bots.dialogue.base import Context
from bots.dialogue.uploads import store_upload
from bots.services.dossiers.notify import notify_requester
from bots.services.dossiers.staff import CODE
from core import answers
from core.messages import Button, Reply
from core.state import State

FLOW = "dossier-reply"


async def _waiting(context: Context, code: str) -> Dossier | None:
    dossier = await dossier_of_user(context.session, code, context.identity.id,
                                    commune=context.services.commune.code)
    return dossier if dossier is not None and dossier.status == "needs_info" else None


def _not_waiting(context: Context, code: str) -> list[Reply]:
    return [Reply(context.t("dossier_staff.answer_not_waiting", code=code),
                  (Button(context.t("dossier.button.mine"), "dossier:mine"),))]


async def button(context: Context) -> list[Reply]:
    """`dossier-reply:<CODE>`: the data is the code, not an action."""
    press = context.pressed
    code = f"{press.action}:{press.arg}".upper() if press.arg else press.action.upper()
    if not CODE.fullmatch(code) or await _waiting(context, code) is None:
        context.audit("dossier.answer_open", subject=f"dossier:{code[:24] or '-'}", outcome="not_waiting")
        return _not_waiting(context, code[:24])
    context.set_state(State(FLOW, {"code": code}))
    return [Reply(context.t("dossier_staff.answer_prompt", code=code))]


async def pending(context: Context) -> list[Reply] | None:
    assert context.state is not None
    code = str(context.state.data.get("code", ""))
    incoming = context.incoming
    if incoming.button is not None or (incoming.text or "").strip().startswith("/"):
        context.set_state(None)
        return None
    if incoming.text is not None and answers.is_cancel(incoming.text, strict=True):  # the answer is free text
        context.set_state(None)
        return [Reply(context.t("cancelled"))]
    text = (incoming.text or "").strip() or None
    media_id: str | None = None
    if incoming.attachment is not None:
        stored = await store_upload(context)
        if isinstance(stored, Reply):
            return [stored]  # the state stays: they can send another
        media_id = stored
    if text is None and media_id is None:
        return [Reply(context.t("dossier_staff.answer_prompt", code=code))]
    context.set_state(None)
    dossier = await _waiting(context, code)
    if dossier is None:  # decided meanwhile, or not theirs
        return _not_waiting(context, code)
    return await _answer(context, dossier, text, media_id)


async def _answer(context: Context, dossier: Dossier, text: str | None, media_id: str | None) -> list[Reply]:
    request = await last_request(context.session, dossier.id)
    try:
        moved = await transition(context.session, dossier, "processing", actor=f"user:{context.identity.id}")
    except WorkflowError:
        return _not_waiting(context, dossier.code)
    answer = await record_answer(context.session, context.services.cipher, dossier, text=text,
                                 media_id=media_id, request_event_id=request.id if request else None)
    context.audit("dossier.answer", subject=f"dossier:{dossier.code}",
                  detail={"answer": answer.id, "paper": media_id is not None})
    context.audit("dossier.transition", subject=f"dossier:{dossier.code}",
                  detail={"from": moved.previous, "to": "processing", "event": moved.event.id})
    await notify_requester(context, dossier, request, answer.id)
    return [Reply(context.t("dossier_staff.answer_done", code=dossier.code),
                  (Button(context.t("dossier.button.view"), f"dossier:view:{dossier.code}"),))]
