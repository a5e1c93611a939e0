"""Village reports, the villager's side (intent `report_problem`): what kind of problem, a few words,
an optional photo, where (a shared location, placed in its hamlet, or a hamlet picked with buttons);
then a `PA-NNNNNN` code. The same problem reported again nearby (or in the same hamlet, without a
location) within the configured time is linked to the first report: the villager gets its code and
its updates. A resolved report asks its reporters whether it is fixed: «not fixed» reopens it.

Buttons `report:…` are public; «fixed»/«not fixed» are checked here against the report's followers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backends.addresses.hamlets import Hamlets
from backends.reports.kinds import KINDS, recognise
from backends.reports.store import (
    RESOLVED,
    Place,
    Report,
    ReportRefused,
    confirm,
    find_duplicate,
    is_follower,
    link_report,
    open_report,
    reopen,
    report_by_code,
    serialise_new_reports,
)
from bots.dialogue import menu
from bots.dialogue.base import Context
from bots.dialogue.steps import flow_button
from bots.dialogue.uploads import store_upload
from bots.services.reports.notify import (
    PUBLIC_FAMILY,
    hamlet_label,
    kind_label,
    notify_assignee,
    notify_reporters,
    notify_staff_new,
)
from core import answers
from core.consent import grant_consent, has_consent
from core.messages import Button, Reply
from core.models import utcnow
from core.state import State
from core.text import fold
from nlu.engine import EMERGENCY

FLOW = "report"
PURPOSE = "reports"  # consent: the commune keeps what the villager sends to handle it and reply
MIN_DESCRIPTION, MAX_DESCRIPTION = 3, 1000
DESCRIPTION_FROM_INTENT_WORDS = 4  # "mất điện cả xóm từ sáng" already says what is wrong
_SKIP_WORDS = frozenset({"khong", "ko", "k", "bo qua", "khong co", "skip", "no", "none"})


def _hamlets(context: Context) -> Hamlets:
    return Hamlets.from_commune(context.services.commune)


def _hamlet_by_name(hamlets: Hamlets, text: str) -> str | None:
    """«xóm Kèm», «kem», «Xom La Cut» → the hamlet's id."""
    wanted = fold(text).removeprefix("xom ").strip()
    for hamlet in hamlets:
        name = fold(hamlet.name).removeprefix("xom ").strip()
        if wanted in (name, fold(hamlet.id).replace("_", " ")):
            return hamlet.id
    return None


def _reporting(context: Context) -> dict[str, Any] | None:
    """The report being made (a copy of the conversation's data), or None."""
    state = context.state
    return dict(state.data) if state is not None and state.flow == FLOW else None


def _expired(context: Context) -> list[Reply]:
    """A report button of a conversation that is over."""
    return [menu.menu_reply(context, "report.expired")]


async def _unfit(desk: ReportDesk, context: Context, data: dict[str, Any]) -> list[Reply]:
    """A report button that does not fit: «unknown button», and the question again."""
    return desk._next(context, data, context.t("unknown_button") + "\n")


# A button of the report being made: its step fills in a piece from the argument, or declines (None:
# already answered, not offered yet, a bad argument); without a report in progress, it has expired.
_in_report = flow_button(lambda _desk, context: _reporting(context), _expired, _unfit)


@dataclass
class ReportDesk:
    clock: Callable[[], dt.datetime] = field(default=utcnow)

    # -- asking, one missing thing at a time

    async def start(self, context: Context) -> list[Reply]:
        text = (context.incoming.text or "").strip()
        data: dict[str, Any] = {"consent": await has_consent(context.session, context.identity.id, PURPOSE)}
        kind = recognise(text) if text else None
        if kind is not None:
            data["kind"] = kind
            if len(text.split()) >= DESCRIPTION_FROM_INTENT_WORDS and len(text) <= MAX_DESCRIPTION:
                data["description"] = text
        return self._next(context, data)

    def _next(self, context: Context, data: dict[str, Any], prefix: str = "") -> list[Reply]:
        context.set_state(State(FLOW, data))
        cancel = Button(context.t("report.button.cancel"), f"{PUBLIC_FAMILY}:cancel", means="cancel")
        if not data.get("consent"):
            return [Reply(prefix + context.t("report.consent.ask"), (
                Button(context.t("report.consent.yes"), f"{PUBLIC_FAMILY}:consent:yes", means="yes"),
                Button(context.t("report.consent.no"), f"{PUBLIC_FAMILY}:consent:no", means="no")))]
        if "kind" not in data:
            buttons = tuple(Button(kind_label(context.services, k, context.lang), f"{PUBLIC_FAMILY}:kind:{k}")
                            for k in KINDS)
            return [Reply(prefix + context.t("report.ask_kind"), (*buttons, cancel))]
        kind = kind_label(context.services, data["kind"], context.lang)
        if "description" not in data:
            return [Reply(prefix + context.t("report.ask_description", kind=kind), (cancel,))]
        if "photo" not in data:
            skip = Button(context.t("report.button.skip_photo"), f"{PUBLIC_FAMILY}:skip-photo", means="skip")
            return [Reply(prefix + context.t("report.ask_photo"), (skip, cancel))]
        hamlets = tuple(Button(h.name, f"{PUBLIC_FAMILY}:hamlet:{h.id}") for h in _hamlets(context))
        return [Reply(prefix + context.t("report.ask_place"), (*hamlets, cancel), request_location=True)]

    async def step(self, context: Context) -> list[Reply] | None:
        """The conversation state's handler: each answer fills what is missing."""
        assert context.state is not None
        data = dict(context.state.data)
        incoming = context.incoming
        press = context.press
        if press is not None:
            if press.family != PUBLIC_FAMILY:
                context.set_state(None)  # another service's button: leave the report
            return None  # the report's own buttons read the state themselves
        if not data.get("consent"):  # only the consent buttons answer the consent question
            typed = (incoming.text or "").strip()
            if incoming.kind == "text" and typed and not typed.startswith("/"):
                cancelled = answers.is_cancel(typed)
                return self._cancel(context) if cancelled else self._next(context, data)
            context.set_state(None)
            return None
        if incoming.location is not None and "place" not in data:
            return await self._located(context, data, incoming.location.lat, incoming.location.lon)
        if incoming.attachment is not None and "photo" not in data:
            stored = await store_upload(context)
            if isinstance(stored, Reply):
                return [stored, *self._next(context, data)]
            data["photo"] = stored
            return await self._advance(context, data)
        if incoming.kind != "text":  # a second photo, a voice message…: the report waits, nothing lost
            return self._next(context, data, context.t("report.unexpected") + "\n")
        text = (incoming.text or "").strip()
        if text.startswith("/"):
            context.set_state(None)
            return None
        # What is wrong, in the villager's own words: there only a stop word alone stops.
        own_words = "kind" not in data or "description" not in data
        if answers.is_cancel(text, strict=own_words):
            return self._cancel(context)
        if answers.is_back(text):
            return self._back(context, data)
        replies = await self._typed(context, data, text)
        # A report that describes a danger to life gets the `emergency` intent's answer too (115 first,
        # doctors and staff alerted), before the report goes on.
        emergency = context.intent_handler(EMERGENCY)
        if (emergency is not None and not context.emergency_answered
                and context.understand(text).intent == EMERGENCY):
            return [*await emergency(context), *replies]
        return replies

    async def _typed(self, context: Context, data: dict[str, Any], text: str) -> list[Reply]:
        if "kind" not in data:
            kind = recognise(text)
            if kind is None:
                return self._next(context, data, context.t("report.kind_unknown") + "\n")
            data["kind"] = kind
            if len(text.split()) >= DESCRIPTION_FROM_INTENT_WORDS:
                data["description"] = text[:MAX_DESCRIPTION]
            return await self._advance(context, data)
        if "description" not in data:
            if len(text) < MIN_DESCRIPTION:
                return self._next(context, data, context.t("report.description_short") + "\n")
            if len(text) > MAX_DESCRIPTION:
                too_long = context.t("report.description_long", limit=MAX_DESCRIPTION)
                return self._next(context, data, too_long + "\n")
            data["description"] = text
            return await self._advance(context, data)
        if "photo" not in data:
            if fold(text).strip(" .!") in _SKIP_WORDS:
                data["photo"] = None
                return await self._advance(context, data)
            return self._next(context, data, context.t("report.photo_expected") + "\n")
        hamlet_id = _hamlet_by_name(_hamlets(context), text)
        if hamlet_id is None:
            return self._next(context, data, context.t("report.place_unknown") + "\n")
        data["place"] = {"hamlet": hamlet_id}
        return await self._advance(context, data)

    async def _located(self, context: Context, data: dict[str, Any], lat: float, lon: float) -> list[Reply]:
        hamlet = _hamlets(context).locate(lat, lon)
        if hamlet is None:
            return self._next(context, data, context.t("report.outside") + "\n")
        data["place"] = {"hamlet": hamlet.id, "lat": lat, "lon": lon}
        return await self._advance(context, data)

    async def _advance(self, context: Context, data: dict[str, Any]) -> list[Reply]:
        if all(key in data for key in ("kind", "description", "photo", "place")):
            return await self._finish(context, data)
        return self._next(context, data)

    def _cancel(self, context: Context) -> list[Reply]:
        context.set_state(None)
        return [menu.menu_reply(context, "report.cancelled")]

    def _back(self, context: Context, data: dict[str, Any]) -> list[Reply]:
        """One step back: the piece answered last (the photo, the words, the kind) is asked again."""
        for piece in ("photo", "description", "kind"):
            if piece in data:
                del data[piece]
                return self._next(context, data)
        return self._next(context, data, context.t("form.at_first") + "\n")

    # -- the `report:<action>[:<argument>]` buttons (bots/services/reports/unit.py)

    async def fixed(self, context: Context) -> list[Reply]:
        """The reporter's answer to a resolution, any time later: checked against the report's followers."""
        return await self._answer_fix(context, context.pressed.arg, fixed=True)

    async def not_fixed(self, context: Context) -> list[Reply]:
        return await self._answer_fix(context, context.pressed.arg, fixed=False)

    @_in_report
    async def cancel_pressed(self, context: Context, data: dict[str, Any], arg: str) -> list[Reply] | None:
        return self._cancel(context)

    @_in_report
    async def consent_pressed(self, context: Context, data: dict[str, Any], arg: str) -> list[Reply] | None:
        if data.get("consent"):
            return None
        return await self._consent(context, data, arg == "yes")

    @_in_report
    async def kind_pressed(self, context: Context, data: dict[str, Any], arg: str) -> list[Reply] | None:
        if arg not in KINDS or "kind" in data:
            return None
        data["kind"] = arg
        return await self._advance(context, data)

    @_in_report
    async def skip_photo(self, context: Context, data: dict[str, Any], arg: str) -> list[Reply] | None:
        if "kind" not in data or "photo" in data:
            return None
        data["photo"] = None
        return await self._advance(context, data)

    @_in_report
    async def hamlet_pressed(self, context: Context, data: dict[str, Any], arg: str) -> list[Reply] | None:
        if "kind" not in data or "place" in data or not _hamlets(context).get(arg):
            return None
        data["place"] = {"hamlet": arg}
        return await self._advance(context, data)

    @_in_report
    async def unknown(self, context: Context, data: dict[str, Any], arg: str) -> list[Reply] | None:
        """An action that is not ours: the report's question again, after «unknown button»."""
        return None

    async def _consent(self, context: Context, data: dict[str, Any], granted: bool) -> list[Reply]:
        if not granted:
            context.set_state(None)
            context.audit("consent.declined", detail={"purpose": PURPOSE})
            declined = context.t("report.consent.declined", phone=context.services.commune.office.phone)
            return [menu.with_menu(context, declined)]
        if await grant_consent(context.session, context.identity.id, PURPOSE):
            context.audit("consent.granted", detail={"purpose": PURPOSE})
        data["consent"] = True
        return await self._advance(context, data)

    # -- the report made, or linked

    async def _finish(self, context: Context, data: dict[str, Any]) -> list[Reply]:
        settings, now = context.services.settings, self.clock()
        raw = data["place"]
        place = Place(str(raw["hamlet"]), raw.get("lat"), raw.get("lon"))
        kind, description, photo = str(data["kind"]), str(data["description"]), data.get("photo")
        context.set_state(None)
        if not await has_consent(context.session, context.identity.id, PURPOSE):
            return [menu.menu_reply(context, "report.cancelled")]  # consent withdrawn meanwhile: keep nothing
        await serialise_new_reports(context.session)
        commune = context.services.commune.code
        first = await find_duplicate(context.session, commune=commune, kind=kind, place=place, now=now,
                                     metres=settings.report_duplicate_metres,
                                     hours=settings.report_duplicate_hours)
        hamlet = hamlet_label(context.services, place.hamlet_id, context.lang)
        label = kind_label(context.services, kind, context.lang)
        if first is not None:
            return await self._link(context, first, description, photo, place, label, hamlet, now)
        report, event = await open_report(context.session, context.services.cipher, kind=kind,
                                          description=description, photo_id=photo, place=place,
                                          reporter_id=context.identity.id, channel=context.incoming.channel,
                                          now=now, commune=commune)
        context.audit("report.open", subject=f"report:{report.code}",
                      detail={"kind": kind, "hamlet": place.hamlet_id, "located": place.located,
                              "photo": photo is not None})
        await notify_staff_new(context.session, context.services, report, event)
        return [menu.with_menu(context, context.t("report.ack", code=report.code, kind=label, hamlet=hamlet))]

    async def _link(self, context: Context, first: Report, description: str, photo: str | None,
                    place: Place, label: str, hamlet: str, now: dt.datetime) -> list[Reply]:
        status = context.t(f"report.status.{first.status}")
        if await is_follower(context.session, first, context.identity.id):
            context.audit("report.link", subject=f"report:{first.code}", outcome="already")
            known = context.t("report.already_yours", code=first.code, status=status)
            return [menu.with_menu(context, known)]
        await link_report(context.session, context.services.cipher, first, user_id=context.identity.id,
                          description=description, photo_id=photo, place=place, now=now)
        context.audit("report.link", subject=f"report:{first.code}",
                      detail={"kind": first.kind, "located": place.located})
        return [menu.with_menu(context, context.t("report.linked", code=first.code, kind=label, hamlet=hamlet,
                                                  status=status))]

    # -- the reporter's answer to a resolution

    async def _answer_fix(self, context: Context, code: str, *, fixed: bool) -> list[Reply]:
        action = "report.confirm" if fixed else "report.reopen"
        report = (await report_by_code(context.session, code, commune=context.services.commune.code)
                  if code else None)
        if report is None or not await is_follower(context.session, report, context.identity.id):
            context.audit(action, subject=f"report:{code[:16]}", outcome="deny")
            return [menu.menu_reply(context, "report.not_yours")]
        if report.status != RESOLVED:
            context.audit(action, subject=f"report:{report.code}", outcome="refused",
                          detail={"status": report.status})
            return [Reply(context.t("report.answer_late", code=report.code,
                                    status=context.t(f"report.status.{report.status}")))]
        try:
            change = confirm if fixed else reopen
            event = await change(context.session, report, context.identity.id, self.clock())
        except ReportRefused:  # pragma: no cover - status checked above, in the same transaction
            return [Reply(context.t("report.answer_late", code=report.code, status=report.status))]
        context.audit(action, subject=f"report:{report.code}")
        await notify_assignee(context.session, context.services, report, event, actor=context.identity.id)
        await notify_reporters(context.session, context.services, report, event, skip=context.identity.id)
        key = "report.thanks_fixed" if fixed else "report.reopened"
        return [menu.with_menu(context, context.t(key, code=report.code))]
