"""Doctor appointments: choose a kind, a free slot (buttons), confirm, booked with a code; remote consults
carry their own video-call room. Cancel, "my appointments", and a reminder the day before (a scheduled
outbox message, withdrawn when the appointment is cancelled). The on-duty doctor sees today's list.

`appt:` buttons are public (a villager's own bookings only: every id is checked against the user);
the doctors' view is reached through the `doctor:` family, checked in core (core/roles.py).

Each commune has its own desk and roster: its slots are counted and booked apart from another commune's
of the same hour (the stored key is `scoped`), and a villager, the doctors and the notices see only the
commune of the turn's bookings."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from backends.health.appointments import (
    BOOKED,
    Appointment,
    between,
    book,
    booked_counts,
    cancel,
    parse_code,
    scoped,
    unscoped,
    upcoming_of,
)
from backends.health.consults import unseal
from backends.health.roster import Roster, Slot, parse_slot_key
from bots.dialogue import menu
from bots.dialogue.base import Context
from bots.dialogue.notify import notify
from bots.dialogue.stop import cancelled, wants_out
from core import answers
from core.consent import grant_consent, has_consent
from core.identity import users_with_role
from core.messages import Button, Reply
from core.models import User, utcnow
from core.state import State
from core.text import fold
from core.timezones import VIETNAM
from nlu.engine import EMERGENCY, OUT_OF_SCOPE, Parse

FLOW = "appointment"
FAMILY = "appt"
MAX_REASON = 200
_CURSOR = re.compile(r"\d{8}(\d{4})?")
# "hủy lịch khám", "đổi lịch hẹn": a booking to cancel (the conversation's own stop is core/answers').
_CANCEL_BOOKING = re.compile(r"\b(huy|hoan|doi|cancel)\b.*\b(lich|hen|kham|appointment)")
_MINE_WORDS = re.compile(
    r"\b(lich|hen)\b.*\b(cua toi|cua minh|da dat|da hen)\b|\bmy appointment|\bxem lich\b")
# Typed at the confirmation step, these are a new request rather than the reason for the visit.
_ELSEWHERE = frozenset({
    "greet", "goodbye", "thanks", "help", "dossier_submit", "dossier_status", "procedure_info", "shop_browse",
    "shop_order", "order_status", "announcement_latest", "announcement_subscribe", "address_code", "my_data",
    "report_problem",
})
# Typed at the slot step, these make a whole new request rather than a time for the kind on offer.
_NEW_REQUEST = re.compile(r"\b(dat lich|dang ky|hen kham|kham thai|tiem|vac xin|tu xa|lich kham)\b")
_PARTS_OF_DAY = {"morning": "07:00", "noon": "11:00", "afternoon": "13:00", "evening": "17:00",
                 "night": "19:00"}
# Words that name a kind in a request ("đặt lịch tiêm cho cháu"), diacritics-free.
_KIND_WORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("vaccination", re.compile(r"\b(tiem|vac xin|vaccin\w*|chung ngua)\b")),
    ("antenatal", re.compile(r"\b(kham thai|thai kh?am|mang thai|co bau|antenatal|pregnan\w*)\b")),
    ("remote", re.compile(r"\b(tu xa|video|truc tuyen|online|benh vien huyen|remote)\b")),
)


def reminder_key(appointment_id: int) -> str:
    return f"appointment-reminder:{appointment_id}"


async def cancel_booking(context: Context, appointment: Appointment, now: dt.datetime) -> bool:
    """Cancels a booked appointment and withdraws its reminder, in the turn's transaction, audited;
    False when it was no longer booked. The villager's own cancel and the erasure of their data share it."""
    if not await cancel(context.session, appointment, now):
        return False
    withdrawn = await context.services.outbox.cancel(context.session, reminder_key(appointment.id))
    context.audit("health.appointment_cancel", subject=f"appointment:{appointment.id}",
                  detail={"reminder_withdrawn": withdrawn})
    return True


async def _unknown(context: Context) -> list[Reply]:
    return [menu.menu_reply(context, "unknown_button")]


def _commune(context: Context) -> str:
    return context.services.commune.code


def _stored(context: Context, key: str) -> str:
    """A slot key as the turn's commune stores it (backends/health/appointments.py `scoped`)."""
    return scoped(key, _commune(context), context.services.settings.commune_code)


async def _free_counts(context: Context, slots: list[Slot]) -> dict[str, int]:
    """Seats taken in each of the commune's `slots`, by the slot's own key."""
    stored = {_stored(context, slot.key): slot.key for slot in slots}
    counts = await booked_counts(context.session, list(stored), _commune(context))
    return {stored[key]: count for key, count in counts.items()}


@dataclass
class AppointmentDesk:
    roster: Roster
    clock: Callable[[], dt.datetime] = field(default=utcnow)
    new_token: Callable[[], str] = field(default=lambda: secrets.token_urlsafe(12))

    # -- wording

    def _when(self, context: Context, at: dt.datetime, lang: str | None = None) -> str:
        local = at.astimezone(VIETNAM)
        t = context.services.catalogue.t
        weekday = t(f"weekday.{local.weekday()}", lang or context.lang)
        return f"{weekday} {local.strftime('%d/%m')} · {local.strftime('%H:%M')}"

    def _kind(self, context: Context, kind: str, lang: str | None = None) -> str:
        return context.services.catalogue.t(f"appointments.kind.{kind}", lang or context.lang)

    def _describe(self, context: Context, appointment: Appointment, lang: str | None = None) -> str:
        lang = lang or context.lang
        slot = self._slot_of(appointment)
        video = (context.services.catalogue.t("appointments.video", lang,
                                              url=self.roster.video_link(appointment.video_token))
                 if appointment.video_token else "")
        return context.services.catalogue.t(
            "appointments.line", lang, code=appointment.code,
            kind=self._kind(context, appointment.kind, lang),
            when=self._when(context, appointment.starts_at, lang), place=slot.place if slot else "",
            video=video)

    def _slot_of(self, appointment: Appointment) -> Slot | None:
        parsed = parse_slot_key(unscoped(appointment.slot_key))
        rule = next((r for r in self.roster.sessions if parsed and r.kind == parsed[0]), None)
        if parsed is None or rule is None:
            return None
        return Slot(parsed[0], parsed[1], rule.capacity, rule.place, rule.video)

    # -- the villager

    async def start(self, context: Context) -> list[Reply]:
        words = fold(context.incoming.text or "")
        if _CANCEL_BOOKING.search(words) or _MINE_WORDS.search(words):
            return await self.mine(context, cancelling=bool(_CANCEL_BOOKING.search(words)))
        day = self._day_entity(context)
        moment = self._moment_entity(context, day)
        kind = next((kind for kind, pattern in _KIND_WORDS if pattern.search(words)), None)
        if kind is not None and kind in self.roster.kinds:
            return await self.offer(context, kind, day or (moment.date() if moment else None), moment)
        suffix = (f":{moment.strftime('%Y%m%d%H%M')}" if moment else
                  f":{day.strftime('%Y%m%d')}" if day else "")
        return [self._choose_kind(context, suffix)]

    def _choose_kind(self, context: Context, suffix: str = "") -> Reply:
        buttons = [Button(self._kind(context, kind), f"{FAMILY}:kind:{kind}{suffix}")
                   for kind in self.roster.kinds]
        buttons.append(Button(context.t("appointments.button.mine"), f"{FAMILY}:mine"))
        return Reply(context.t("appointments.choose_kind"), tuple(buttons))

    def _day_entity(self, context: Context) -> dt.date | None:
        found = context.parse.first("date") if context.parse else None
        if found is None:
            return None
        try:
            day = dt.date.fromisoformat(found.value)
        except ValueError:
            return None
        today = self.clock().astimezone(VIETNAM).date()
        return day if today <= day <= today + dt.timedelta(days=self.roster.horizon_days) else None

    def _moment_entity(self, context: Context, day: dt.date | None) -> dt.datetime | None:
        """A time in the request ("9 giờ", "sáng"), on the day asked for or today, Vietnam time."""
        found = context.parse.first("time") if context.parse else None
        if found is None:
            return None
        value = _PARTS_OF_DAY.get(found.value, found.value)
        try:
            at = dt.time.fromisoformat(value)
        except ValueError:
            return None
        return dt.datetime.combine(day or self.clock().astimezone(VIETNAM).date(), at, VIETNAM)

    async def offer(self, context: Context, kind: str, day: dt.date | None = None,
                    since: dt.datetime | None = None) -> list[Reply]:
        """Free slots of `kind` as buttons, from `day` and from the moment `since` (inclusive: a time asked
        for comes first when it is free), with a button for later ones."""
        now = self.clock()
        limit = self.roster.max_buttons
        start = max(now, since - dt.timedelta(minutes=1)) if since else now
        candidates = list(self.roster.slots(start, kind, day))
        counts = await _free_counts(context, candidates)
        free = [(slot, slot.capacity - counts.get(slot.key, 0)) for slot in candidates
                if counts.get(slot.key, 0) < slot.capacity]
        note = ""
        if day is not None and not any(slot.starts_at.date() == day for slot, _ in free):
            note = context.t("appointments.day_full", day=day.strftime("%d/%m"))
        shown = free[:limit]
        if not shown:
            return [menu.with_menu(context, context.t("appointments.none", kind=self._kind(context, kind)))]
        buttons = [Button(context.t("appointments.slot_button", when=self._when(context, slot.starts_at),
                                    left=left), f"{FAMILY}:pick:{slot.key}") for slot, left in shown]
        if len(free) > limit:
            cursor = (shown[-1][0].starts_at + dt.timedelta(minutes=1)).strftime("%Y%m%d%H%M")
            buttons.append(Button(context.t("appointments.button.later"), f"{FAMILY}:more:{kind}:{cursor}"))
        buttons.append(Button(context.t("appointments.button.kinds"), f"{FAMILY}:start"))
        text = note + context.t("appointments.choose_slot", kind=self._kind(context, kind),
                                place=shown[0][0].place)
        context.set_state(State(FLOW, {"offer": kind}))  # a typed day or time picks the nearest slot
        return [Reply(text, tuple(buttons))]

    async def pick(self, context: Context, key: str, reason: str = "") -> list[Reply]:
        slot = self.roster.slot(key, self.clock())
        if slot is None:
            return [menu.menu_reply(context, "appointments.gone")]
        context.set_state(State(FLOW, {"slot": key, "reason": reason}))
        consent = await has_consent(context.session, context.identity.id, "health")
        text = context.t("appointments.confirm", kind=self._kind(context, slot.kind),
                         when=self._when(context, slot.starts_at), place=slot.place,
                         reason=context.t("appointments.reason", reason=reason) if reason else "")
        if not consent:
            text += "\n\n" + context.t("appointments.consent")
        label = "appointments.button.book" if consent else "appointments.button.consent_book"
        return [Reply(text, (Button(context.t(label), f"{FAMILY}:book:{key}", means="yes"),
                             Button(context.t("appointments.button.other"), f"{FAMILY}:kind:{slot.kind}",
                                    means="no")))]

    async def typed(self, context: Context) -> list[Reply] | None:
        """In the confirmation step, text is the optional reason; buttons and commands route normally.
        A stop leaves (only a stop word alone where the text is the reason); a back goes one step back."""
        assert context.state is not None
        text = (context.incoming.text or "").strip()
        press = context.press
        if press is not None or not text or text.startswith("/"):
            if press is not None and press.family == FAMILY and wants_out(context):
                return cancelled(context)  # "hủy", "thôi" typed, read as the confirmation's «no»
            if press is None or press.family != FAMILY:
                context.set_state(None)  # the villager went elsewhere: a later text is not a reason
            return None
        words = fold(text)
        offering = "offer" in context.state.data  # else confirming, and the text is the reason
        none_of_these = offering and answers.core_words(text) in answers.NO  # "không" to the slots shown
        if answers.is_cancel(text, strict=not offering) or none_of_these:
            return cancelled(context)
        if answers.is_back(text):
            return await self._back(context)
        if offering:
            return await self._typed_time(context, str(context.state.data["offer"]), text)
        intent = context.understand(text).intent
        other = intent in _ELSEWHERE or _CANCEL_BOOKING.search(words) or _MINE_WORDS.search(words)
        if intent == EMERGENCY or other:
            context.set_state(None)  # an emergency (115 first) or another request: not a reason
            return None
        if len(text) > MAX_REASON:
            return [Reply(context.t("appointments.reason_too_long", max=MAX_REASON))]
        return await self.pick(context, str(context.state.data.get("slot", "")), text)

    async def _back(self, context: Context) -> list[Reply]:
        """From the confirmation to the slots of its kind; from the slots to the kinds."""
        assert context.state is not None
        key = context.state.data.get("slot")
        slot = self.roster.slot(str(key), self.clock()) if key else None
        if slot is not None:
            return await self.offer(context, slot.kind)
        context.set_state(None)
        return [self._choose_kind(context)]

    async def _typed_time(self, context: Context, kind: str, text: str) -> list[Reply] | None:
        """A day or time typed at the slot step ("8 giờ sáng mai", "chiều thứ năm", "thứ 5 tuần sau lúc
        9h"): the free slot nearest to it is chosen, and the villager is told which."""
        parse = context.understand(text)
        words = fold(text)
        if _NEW_REQUEST.search(words) or _CANCEL_BOOKING.search(words) or _MINE_WORDS.search(words):
            context.set_state(None)  # "đặt lịch khám thai thứ sáu", "xem lịch của tôi": asked afresh
            return None
        day, moment = self._wanted(parse)
        if day is None and moment is None:
            clear = parse.intent not in (OUT_OF_SCOPE, "doctor_appointment") and parse.confidence >= 0.6
            if clear or parse.intent == EMERGENCY:
                context.set_state(None)  # a new request, not a time
                return None
            return [Reply(context.t("appointments.time_unknown", text=text[:60])),
                    *await self.offer(context, kind)]
        if kind not in self.roster.kinds:
            context.set_state(None)
            return None
        slot = await self._nearest(context, kind, day, moment)
        if slot is None:
            return [menu.with_menu(context, context.t("appointments.none", kind=self._kind(context, kind)))]
        asked = moment.strftime("%H:%M") if moment else day.strftime("%d/%m") if day else ""
        exact = moment is not None and slot.starts_at == moment
        key = "appointments.typed_exact" if exact else "appointments.typed_nearest"
        notice = context.t(key, asked=asked, when=self._when(context, slot.starts_at))
        replies = await self.pick(context, slot.key)
        return [Reply(f"{notice}\n{replies[0].text}", replies[0].buttons), *replies[1:]]

    def _wanted(self, parse: Parse) -> tuple[dt.date | None, dt.datetime | None]:
        """The day and the moment a parse names; a time alone is today's, or tomorrow's once passed."""
        today = self.clock().astimezone(VIETNAM).date()
        found_day = parse.first("date")
        day: dt.date | None = None
        if found_day is not None:
            try:
                day = dt.date.fromisoformat(found_day.value)
            except ValueError:
                day = None
        found_time = parse.first("time")
        if found_time is None:
            return day, None
        try:
            at = dt.time.fromisoformat(_PARTS_OF_DAY.get(found_time.value, found_time.value))
        except ValueError:
            return day, None
        moment = dt.datetime.combine(day or today, at, VIETNAM)
        if day is None and moment <= self.clock():
            moment += dt.timedelta(days=1)
        return day, moment

    async def _nearest(self, context: Context, kind: str, day: dt.date | None,
                       moment: dt.datetime | None) -> Slot | None:
        """The free slot of `kind` closest to the moment (or the first of the day) asked for."""
        candidates = list(self.roster.slots(self.clock(), kind))
        counts = await _free_counts(context, candidates)
        free = [slot for slot in candidates if counts.get(slot.key, 0) < slot.capacity]
        if not free:
            return None
        if moment is not None:
            return min(free, key=lambda slot: (abs((slot.starts_at - moment).total_seconds()),
                                               slot.starts_at))
        assert day is not None
        on_day = [slot for slot in free if slot.starts_at.astimezone(VIETNAM).date() >= day]
        return on_day[0] if on_day else free[-1]

    async def book(self, context: Context, key: str) -> list[Reply]:
        now = self.clock()
        slot = self.roster.slot(key, now)
        if slot is None:
            return [menu.menu_reply(context, "appointments.gone")]
        state = context.state
        reason = str(state.data.get("reason") or "") if state and state.flow == FLOW and \
            state.data.get("slot") == key else ""
        upcoming = await upcoming_of(context.session, context.identity.id, now, _commune(context))
        stored = _stored(context, key)
        if len(upcoming) >= self.roster.max_per_person and all(a.slot_key != stored for a in upcoming):
            context.set_state(None)
            context.audit("health.appointment_book", subject=f"slot:{slot.key}", outcome="limit")
            return [Reply(context.t("appointments.limit", count=len(upcoming)), (
                Button(context.t("appointments.button.mine"), f"{FAMILY}:mine"),))]
        if await grant_consent(context.session, context.identity.id, "health"):
            context.audit("consent.granted", detail={"purpose": "health"})
        token = self.new_token() if slot.video else None
        result = await book(context.session, context.services.cipher, slot, user_id=context.identity.id,
                            reason=reason[:MAX_REASON], video_token=token, now=now,
                            commune=_commune(context), key=stored)
        context.set_state(None)
        if result.outcome == "full" or result.appointment is None:
            context.audit("health.appointment_book", subject=f"slot:{slot.key}", outcome="full")
            return [Reply(context.t("appointments.full")), *await self.offer(context, slot.kind)]
        appointment = result.appointment
        if result.outcome == "already":
            return [self._booked_reply(context, appointment, "appointments.already")]
        context.audit("health.appointment_book", subject=f"appointment:{appointment.id}",
                      detail={"kind": slot.kind})
        reminded = await self._schedule_reminder(context, appointment, now)
        reply = self._booked_reply(context, appointment, "appointments.booked")
        if reminded:
            remind = context.t("appointments.will_remind", hour=self.roster.reminder_hour)
            reply = Reply(f"{reply.text}\n{remind}", reply.buttons)
        return [reply]

    def _booked_reply(self, context: Context, appointment: Appointment, key: str) -> Reply:
        video: tuple[Button, ...] = ()
        if appointment.video_token:
            video = (Button(context.t("appointments.button.video"), f"{FAMILY}:video:{appointment.id}",
                            url=self.roster.video_link(appointment.video_token)),)
        return Reply(context.t(key, line=self._describe(context, appointment)), (
            *video,  # the one link that matters, as a button
            Button(context.t("appointments.button.cancel"), f"{FAMILY}:cancel:{appointment.id}"),
            Button(context.t("appointments.button.mine"), f"{FAMILY}:mine"),
        ))

    async def _schedule_reminder(self, context: Context, appointment: Appointment, now: dt.datetime) -> bool:
        """The day before at the roster's hour, Vietnam time; none when that moment has passed."""
        local = appointment.starts_at.astimezone(VIETNAM)
        at = dt.datetime.combine(local.date() - dt.timedelta(days=1), dt.time(self.roster.reminder_hour),
                                 VIETNAM).astimezone(dt.UTC)
        if at <= now:
            return False
        user = await context.session.get(User, context.identity.id)
        assert user is not None
        text = context.services.catalogue.t("appointments.reminder", user.language,
                                            line=self._describe(context, appointment, user.language))
        button = Button(context.services.catalogue.t("appointments.button.cancel", user.language),
                        f"{FAMILY}:cancel:{appointment.id}")
        return await notify(context.session, context.services, user, Reply(text, (button,)),
                            reminder_key(appointment.id), not_before=at)

    async def mine(self, context: Context, cancelling: bool = False) -> list[Reply]:
        booked = await upcoming_of(context.session, context.identity.id, self.clock(), _commune(context))
        if not booked:
            return [Reply(context.t("appointments.mine_none"), (
                Button(context.t("appointments.button.new"), f"{FAMILY}:start"),))]
        lines = "\n".join(self._describe(context, a) for a in booked)
        buttons = [Button(context.t("appointments.button.cancel_code", code=a.code),
                          f"{FAMILY}:cancel:{a.id}") for a in booked]
        buttons.append(Button(context.t("appointments.button.new"), f"{FAMILY}:start"))
        key = "appointments.mine_cancel" if cancelling else "appointments.mine"
        return [Reply(context.t(key, lines=lines), tuple(buttons))]

    async def _own(self, context: Context, raw: str) -> Appointment | None:
        number = parse_code(raw)
        appointment = await context.session.get(Appointment, number) if number is not None else None
        if appointment is None or appointment.commune != _commune(context):
            return None  # another commune's booking is as good as none
        if appointment.user_id != context.identity.id or appointment.status != BOOKED:
            return None
        return appointment

    async def ask_cancel(self, context: Context, raw: str) -> list[Reply]:
        appointment = await self._own(context, raw)
        if appointment is None:
            return [Reply(context.t("appointments.not_found"), (
                Button(context.t("appointments.button.mine"), f"{FAMILY}:mine"),))]
        return [Reply(context.t("appointments.cancel_confirm", line=self._describe(context, appointment)), (
            Button(context.t("appointments.button.cancel_yes"), f"{FAMILY}:cancel-yes:{appointment.id}",
                   means="yes"),
            Button(context.t("appointments.button.keep"), f"{FAMILY}:mine", means="no"),
        ))]

    async def cancel(self, context: Context, raw: str) -> list[Reply]:
        appointment = await self._own(context, raw)
        if appointment is None or not await cancel_booking(context, appointment, self.clock()):
            return [Reply(context.t("appointments.not_found"), (
                Button(context.t("appointments.button.mine"), f"{FAMILY}:mine"),))]
        return [Reply(context.t("appointments.cancelled", code=appointment.code), (
            Button(context.t("appointments.button.new"), f"{FAMILY}:start"),
            Button(context.t("appointments.button.mine"), f"{FAMILY}:mine"),
        ))]

    def describe(self, context: Context, appointment: Appointment, lang: str | None = None) -> str:
        """One line: code, kind, day and time, place (and the video link of a remote consult)."""
        return self._describe(context, appointment, lang)

    async def tell_station(self, context: Context, appointment: Appointment, notice: str) -> int:
        """Every doctor of the appointment's commune hears, through the outbox, that a booked place is free
        again (`notice` names the reason; no patient named); returns how many were told."""
        doctors = await users_with_role(context.session, "doctor", exclude=context.identity.id,
                                        commune=appointment.commune)
        for doctor in doctors:
            await notify(context.session, context.services, doctor, notice,
                         f"appointment-freed:{appointment.id}:{doctor.id}",
                         line=self._describe(context, appointment, doctor.language))
        return len(doctors)

    # -- the villager's buttons (bots/services/health/unit.py): `appt:<action>[:<argument>]`

    async def kind_pressed(self, context: Context) -> list[Reply]:
        """`appt:kind:<kind>[:<day or moment>]`: the free slots of a kind, from the day or time asked."""
        return await self._offer_pressed(context, at_day=True)

    async def more_pressed(self, context: Context) -> list[Reply]:
        """`appt:more:<kind>:<moment>`: the slots after those shown."""
        return await self._offer_pressed(context, at_day=False)

    async def _offer_pressed(self, context: Context, *, at_day: bool) -> list[Reply]:
        match context.pressed.args:
            case (kind,):
                cursor = ""
            case (kind, cursor):
                pass
            case _:
                return await _unknown(context)
        if kind not in self.roster.kinds or (cursor and not _CURSOR.fullmatch(cursor)):
            return await _unknown(context)
        day, since = self._cursor(cursor)
        if at_day and since is not None:
            day = since.date()  # a day and time asked for: say so if that day is full
        return await self.offer(context, kind, day, since)

    async def pick_pressed(self, context: Context) -> list[Reply]:
        return await self.pick(context, context.pressed.arg)

    async def book_pressed(self, context: Context) -> list[Reply]:
        return await self.book(context, context.pressed.arg)

    async def cancel_pressed(self, context: Context) -> list[Reply]:
        return await self.ask_cancel(context, context.pressed.arg)

    async def cancel_yes_pressed(self, context: Context) -> list[Reply]:
        return await self.cancel(context, context.pressed.arg)

    async def video_pressed(self, context: Context) -> list[Reply]:
        """Where a channel cannot open a link button: the link, to tap."""
        appointment = await self._own(context, context.pressed.arg)
        if appointment is None or not appointment.video_token:
            return await _unknown(context)
        return [Reply(self._describe(context, appointment))]

    @staticmethod
    def _cursor(raw: str) -> tuple[dt.date | None, dt.datetime | None]:
        try:
            if len(raw) == 8:
                return dt.datetime.strptime(raw, "%Y%m%d").date(), None
            if len(raw) == 12:
                return None, dt.datetime.strptime(raw, "%Y%m%d%H%M").replace(tzinfo=VIETNAM)
        except ValueError:
            pass
        return None, None

    # -- the doctors

    async def today(self, context: Context) -> list[Reply]:
        """Today's appointments for the doctors (reasons are health data: the read is audited)."""
        now = self.clock().astimezone(VIETNAM)
        start = dt.datetime.combine(now.date(), dt.time(0), VIETNAM)
        booked = await between(context.session, start, start + dt.timedelta(days=1), _commune(context))
        context.audit("health.appointment_read", subject=f"day:{now.date().isoformat()}",
                      detail={"count": len(booked)})
        if not booked:
            return [Reply(context.t("appointments.today_none"))]
        lines = []
        for appointment in booked:
            reason = unseal(context.services.cipher, appointment.reason_enc, "appointment", appointment.id)
            token = appointment.video_token
            lines.append(context.t(
                "appointments.today_line", time=appointment.starts_at.astimezone(VIETNAM).strftime("%H:%M"),
                kind=self._kind(context, appointment.kind), patient=appointment.user_id,
                code=appointment.code, reason=f" — {reason}" if reason else "",
                video=f" {self.roster.video_link(token)}" if token else ""))
        return [Reply(context.t("appointments.today", count=len(booked), lines="\n".join(lines)))]

    async def count_today(self, context: Context) -> int:
        now = self.clock().astimezone(VIETNAM)
        start = dt.datetime.combine(now.date(), dt.time(0), VIETNAM)
        return len(await between(context.session, start, start + dt.timedelta(days=1), _commune(context)))
