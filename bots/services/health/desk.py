"""Ask a doctor: emergency alerts, consults relayed both ways, and the doctors' desk.

Health texts are stored only encrypted (backends/health/consults.py). Notices through the outbox carry
no health text except a doctor's answer to the villager (their own consult): alerts and relays to doctors
name the pseudonymous patient (BN#user id) and the consult, and the doctor opens it here, where every
read is audited. `/queue`, `/answer`, `/close` and `doctor:` buttons are allowed to doctors by core
(core/roles.py); the villager's follow-up messages arrive as plain text in the `consult` state.

Each commune has its own desk and roster (bots/assistant.py). Everything is its commune's: the consults,
alerts and roster links a doctor sees and acts on, and the doctors and staff told (the turn's commune,
`context.services.commune`; the task's, `services.commune`). Another commune's consult or alert is
answered exactly as one that does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backends.addresses.hamlets import Hamlets
from backends.addresses.plus_codes import decode
from backends.addresses.store import saved_address
from backends.health.appointments import link_doctor, links, scoped
from backends.health.consults import (
    ANSWERED,
    CLOSED,
    OPEN,
    Consult,
    EmergencyAlert,
    add_message,
    alert_in,
    claim_escalation,
    consult_in,
    messages_of,
    open_consult,
    open_consult_of,
    queue_position,
    record_emergency,
    seal,
    unanswered_since,
    unseal,
    waiting,
)
from backends.health.roster import Roster
from bots.dialogue import menu
from bots.dialogue.base import Context, Services
from bots.dialogue.forms import Forms
from bots.dialogue.notify import notify
from bots.dialogue.uploads import store_upload
from bots.services.health.appointments import AppointmentDesk
from core import answers
from core.consent import grant_consent, has_consent
from core.db import Database
from core.identity import role_holders, users_with_role
from core.media import media_url
from core.messages import Button, Reply
from core.models import User, utcnow
from core.state import State
from core.text import fold
from core.timezones import VIETNAM
from nlu.engine import EMERGENCY

log = logging.getLogger(__name__)
FLOW = "consult"
COMPOSE_FLOW = "consult-answer"  # a doctor writing the answer to one consult
FORM = "consult"
FAMILY = "doctor"  # doctor-only buttons, checked in core
PUBLIC_FAMILY = "health"  # the villager's consent buttons
ALERT_WINDOW_SECONDS = 600  # the same emergency message again within this window does not re-alert
_QUEUE_SYMPTOM_WORDS = 8
_NUMBER = re.compile(r"#?(\d{1,9})")
# Coarse category of an emergency message, from its diacritics-free words; first match wins.
_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("pregnancy", ("thai", "bau", "de non", "sinh non", "chuyen da", "pregnan")),
    ("chest", ("nguc", "tim", "chest", "heart")),
    ("breathing", ("tho", "ngat", "hoc", "breath", "chok")),
    ("stroke", ("dot quy", "meo mieng", "liet", "tai bien", "stroke")),
    ("seizure", ("co giat", "dong kinh", "seizure")),
    ("unconscious", ("bat tinh", "ngat xiu", "xiu", "hon me", "li bi", "unconscious", "faint")),
    ("bleeding", ("chay mau", "mau", "bleed")),
    ("poisoning", ("ngo doc", "thuoc sau", "uong thuoc", "poison")),
    ("bite", ("ran", "can", "bite")),
)


@dataclass(frozen=True, slots=True)
class Place:
    """Where an emergency caller is: their hamlet (may be "") and a point."""

    hamlet_id: str
    lat: float
    lon: float

    def dump(self) -> str:
        return f"{self.hamlet_id}|{self.lat:.6f},{self.lon:.6f}"

    def map_url(self) -> str:
        return f"https://www.openstreetmap.org/?mlat={self.lat:.6f}&mlon={self.lon:.6f}#map=17/{self.lat:.6f}/{self.lon:.6f}"


def category_of(text: str) -> str:
    words = f" {fold(text)} "
    for name, stems in _CATEGORIES:
        if any(f" {stem}" in words for stem in stems):
            return name
    return "other"


def _moment(at: dt.datetime) -> str:
    return at.astimezone(VIETNAM).strftime("%d/%m/%Y %H:%M")


def _number(raw: str) -> int | None:
    found = _NUMBER.fullmatch(raw.strip())
    return int(found.group(1)) if found else None


def _commune(context: Context) -> str:
    """The commune of the turn: the villager's, or the doctor's."""
    return context.services.commune.code


async def _own_open(context: Context, consult_id: int) -> Consult | None:
    """The villager's own consult in their commune, still open: what they may write to; None for anyone
    else's."""
    consult = await consult_in(context.session, consult_id, _commune(context))
    if consult is None or consult.status == CLOSED or consult.user_id != context.identity.id:
        return None
    return consult


NumberedButton = Callable[["HealthDesk", Context, int], Awaitable[list[Reply]]]


def _numbered(action: NumberedButton) -> Callable[[HealthDesk, Context], Awaitable[list[Reply]]]:
    """A doctor's button about one consult or alert, `doctor:<action>:<number>`: `action` gets the number;
    without one it is an unknown button, answered politely rather than failing."""

    @functools.wraps(action)
    async def pressed(self: HealthDesk, context: Context) -> list[Reply]:
        number = _number(context.pressed.arg)
        return await (action(self, context, number) if number is not None else self.unknown(context))

    return pressed


@dataclass
class HealthDesk:
    forms: Forms
    clock: Callable[[], dt.datetime] = field(default=utcnow)
    roster: Roster | None = None
    appointments: AppointmentDesk | None = None

    def set_clock(self, clock: Callable[[], dt.datetime]) -> None:
        """One clock for consults, escalation and appointments (tests move it)."""
        self.clock = clock
        if self.appointments is not None:
            self.appointments.clock = clock

    # -- emergency

    async def emergency(self, context: Context) -> list[Reply]:
        replies = await menu.emergency(context)  # the 115 instruction first, whatever happens next
        await self.alert(context, context.incoming.text or "")
        first = replies[0]
        # Where the caller is lets the station come: asked at once, one tap on phones that share it.
        replies[0] = dataclasses.replace(first, text=f"{first.text}\n{context.t('health.share_location')}",
                                         request_location=True)
        return replies

    async def alert(self, context: Context, text: str) -> None:
        """Doctors and staff hear of it at once, in this turn's transaction; no health text in the alert."""
        now = self.clock()
        patient = context.identity.id
        category = category_of(text)
        window = int(now.timestamp() // ALERT_WINDOW_SECONDS)
        digest = context.services.hasher.digest(f"emergency|{patient}|{fold(text)}|{window}")[:16]
        alert = await record_emergency(
            context.session,
            context.services.cipher,
            user_id=patient,
            channel=context.incoming.channel,
            category=category,
            text=text,
            now=now,
            commune=_commune(context),
        )
        context.audit("health.emergency", subject=f"emergency:{alert.id}", detail={"category": category})
        place = await self._known_place(context, alert)
        t = context.services.catalogue.t
        on_call = await role_holders(context.session, "doctor", "staff", "admin", commune=_commune(context))
        for user, roles in on_call.items():
            if "admin" in roles and len(roles) == 1:
                continue  # an administrator alone is not on call
            body = t(
                "health.alert.emergency",
                user.language,
                patient=patient,
                channel=context.incoming.channel,
                at=_moment(now),
                category=t(f"health.category.{category}", user.language),
            ) + "\n" + self._place_line(context.services, user.language, place)
            buttons = self._alert_buttons(context.services, user.language, alert.id) \
                if "doctor" in roles else ()
            await notify(context.session, context.services, user, Reply(body, buttons),
                         f"emergency:{patient}:{digest}:{user.id}")

    async def read_alert(self, context: Context, alert_id: int) -> list[Reply]:
        alert = await alert_in(context.session, alert_id, _commune(context))
        if alert is None:
            context.audit("health.emergency_read", subject=f"emergency:{alert_id}", outcome="not_found")
            return [Reply(context.t("health.alert.not_found", id=alert_id))]
        context.audit("health.emergency_read", subject=f"emergency:{alert.id}")
        text = unseal(context.services.cipher, alert.text_enc, "emergency", alert.id)
        return [
            Reply(
                context.t(
                    "health.alert.text",
                    id=alert.id,
                    patient=alert.user_id,
                    channel=alert.channel,
                    at=_moment(alert.at),
                    category=context.t(f"health.category.{alert.category}"),
                    text=text,
                )
            )
        ]

    @staticmethod
    def _alert_buttons(services: Services, lang: str, alert_id: int) -> tuple[Button, ...]:
        t = services.catalogue.t
        return (Button(t("health.alert.read", lang), f"{FAMILY}:alert:{alert_id}"),
                Button(t("health.alert.take", lang), f"{FAMILY}:take:{alert_id}"),
                Button(t("health.alert.reply", lang), f"{FAMILY}:alert-reply:{alert_id}"))

    async def _known_place(self, context: Context, alert: EmergencyAlert) -> Place | None:
        """The caller's saved address code and hamlet, if they ever shared a location; kept on the alert."""
        saved = await saved_address(context.session, context.services.cipher, alert.user_id)
        if saved is None:
            return None
        lat, lon = decode(saved.code).centre
        place = Place(saved.hamlet_id or "", lat, lon)
        alert.place_enc = seal(context.services.cipher, place.dump(), "emergency-place", alert.id)
        return place

    @staticmethod
    def _place_line(services: Services, lang: str, place: Place | None) -> str:
        t = services.catalogue.t
        if place is None:
            return t("health.alert.place_unknown", lang)
        hamlet = Hamlets.from_commune(services.commune).get(place.hamlet_id)
        name = hamlet.name if hamlet else t("shop.outside_commune", lang)
        return t("health.alert.place", lang, hamlet=name, map=place.map_url())

    async def located(self, context: Context) -> list[Reply] | None:
        """A location shared soon after an emergency goes to the doctors and staff at once."""
        shared = context.incoming.location
        if shared is None:
            return None
        since = self.clock() - dt.timedelta(seconds=ALERT_WINDOW_SECONDS * 3)
        alert = (await context.session.execute(
            select(EmergencyAlert).where(EmergencyAlert.user_id == context.identity.id,
                                         EmergencyAlert.commune == _commune(context),
                                         EmergencyAlert.at >= since)
            .order_by(EmergencyAlert.id.desc()).limit(1))).scalar_one_or_none()
        if alert is None:
            return None
        hamlet = Hamlets.from_commune(context.services.commune).locate(shared.lat, shared.lon)
        place = Place(hamlet.id if hamlet else "", shared.lat, shared.lon)
        alert.place_enc = seal(context.services.cipher, place.dump(), "emergency-place", alert.id)
        context.audit("health.emergency_place", subject=f"emergency:{alert.id}")
        t = context.services.catalogue.t
        station = await role_holders(context.session, "doctor", "staff", commune=_commune(context))
        for user, roles in station.items():
            text = t("health.alert.located", user.language, id=alert.id, patient=alert.user_id,
                     place=self._place_line(context.services, user.language, place))
            buttons = self._alert_buttons(context.services, user.language, alert.id) \
                if "doctor" in roles else ()
            where = f"{round(shared.lat * 1e4)}:{round(shared.lon * 1e4)}"
            await notify(context.session, context.services, user, Reply(text, buttons),
                         f"emergency-place:{alert.id}:{where}:{user.id}")
        return [Reply(context.t("health.location_sent"))]

    async def take_alert(self, context: Context, alert_id: int) -> list[Reply]:
        """A doctor takes the call: the others see who did, so nobody waits for someone else."""
        alert = await alert_in(context.session, alert_id, _commune(context))
        if alert is None:
            return [Reply(context.t("health.alert.not_found", id=alert_id))]
        if alert.handled_by is not None and alert.handled_by != context.identity.id:
            taken = await self._doctor_name(context, alert.handled_by)
            return [Reply(context.t("health.alert.already_taken", id=alert.id, doctor=taken,
                                    at=_moment(alert.handled_at or alert.at)))]
        if alert.handled_by is None:
            alert.handled_by, alert.handled_at = context.identity.id, self.clock()
            context.audit("health.emergency_take", subject=f"emergency:{alert.id}")
            name = await self._doctor_name(context, context.identity.id)
            for user in await users_with_role(context.session, "doctor", "staff", commune=_commune(context)):
                if user.id != context.identity.id:
                    await notify(context.session, context.services, user, "health.alert.taken_notice",
                                 f"emergency-taken:{alert.id}:{user.id}", id=alert.id, doctor=name)
        return [Reply(context.t("health.alert.taken", id=alert.id, patient=alert.user_id),
                      (Button(context.t("health.alert.reply"), f"{FAMILY}:alert-reply:{alert.id}"),))]

    async def _doctor_name(self, context: Context, user_id: int) -> str:
        linked = await self._links(context.session, context.services) if self.roster is not None else {}
        roster_id = next((doctor for doctor, account in linked.items() if account == user_id), None)
        doctor = self.roster.doctor(roster_id) if self.roster is not None and roster_id else None
        return doctor.name if doctor is not None else f"BS#{user_id}"

    async def answer_alert(self, context: Context, alert_id: int, text: str) -> list[Reply]:
        """The doctor writes to the caller: the message goes out as a consult (sealed, audited) that the
        caller can answer, and the doctor has taken the call."""
        alert = await alert_in(context.session, alert_id, _commune(context))
        if alert is None:
            return [Reply(context.t("health.alert.not_found", id=alert_id))]
        consult = await open_consult_of(context.session, alert.user_id, alert.commune)
        if consult is None:
            told = unseal(context.services.cipher, alert.text_enc, "emergency", alert.id)
            consult = await open_consult(context.session, context.services.cipher, user_id=alert.user_id,
                                         who="emergency", age=0, symptoms=told, since=_moment(alert.at),
                                         photo_id=None, now=self.clock(), commune=alert.commune)
            context.audit("health.consult_open", subject=f"consult:{consult.id}",
                          detail={"emergency": alert.id})
        if alert.handled_by is None:
            alert.handled_by, alert.handled_at = context.identity.id, self.clock()
        return await self._answer(context, str(consult.id), text)

    # -- the villager

    async def ask(self, context: Context) -> list[Reply]:
        current = await open_consult_of(context.session, context.identity.id, _commune(context))
        if current is not None:
            context.set_state(State(FLOW, {"id": current.id}))
            return [Reply(context.t("health.already_open", id=current.id))]
        if not await has_consent(context.session, context.identity.id, "health"):
            return [
                Reply(
                    context.t("health.consent.ask"),
                    (
                        Button(context.t("health.consent.yes"), f"{PUBLIC_FAMILY}:consent:yes", means="yes"),
                        Button(context.t("health.consent.no"), f"{PUBLIC_FAMILY}:consent:no", means="no"),
                    ),
                )
            ]
        return await self.forms.start(context, FORM, then=FORM)

    async def reply_doctor(self, context: Context) -> list[Reply]:
        """`health:reply:<consult>`: the villager answers the doctor; their next messages go there."""
        consult = await _own_open(context, _number(context.pressed.arg) or 0)
        if consult is None:
            return [menu.menu_reply(context, "health.consult_over")]
        context.set_state(State(FLOW, {"id": consult.id}))
        # Writing back to the doctor is the villager's own choice to share: recorded as consent.
        if await grant_consent(context.session, context.identity.id, "health"):
            context.audit("consent.granted", detail={"purpose": "health", "via": "reply_doctor"})
        return [Reply(context.t("health.reply_prompt", id=consult.id))]

    async def consent(self, context: Context) -> list[Reply]:
        """`health:consent:yes|no`. The last part is the answer, whatever comes before it: anything but
        «yes» is a refusal, answered with the station's number."""
        press = context.pressed
        answer = press.args[-1] if press.args else press.action
        if answer != "yes":
            context.audit("consent.declined", detail={"purpose": "health"})
            station = context.services.commune.health_station
            return [
                menu.with_menu(
                    context,
                    context.t(
                        "health.consent.declined",
                        station=station.name,
                        station_phone=station.phone,
                    ),
                )
            ]
        if await grant_consent(context.session, context.identity.id, "health"):
            context.audit("consent.granted", detail={"purpose": "health"})
        return await self.ask(context)

    async def submitted(self, context: Context, values: dict[str, Any]) -> list[Reply]:
        if not await has_consent(context.session, context.identity.id, "health"):
            return [menu.menu_reply(context, "cancelled")]  # consent withdrawn meanwhile: store nothing
        services, now = context.services, self.clock()
        symptoms, since = str(values.get("symptoms") or ""), str(values.get("since") or "")
        replies: list[Reply] = []
        if services.nlu.parse(symptoms).intent == EMERGENCY:  # never let an emergency wait in the queue
            replies.extend(await menu.emergency(context))
            await self.alert(context, symptoms)
        consult = await open_consult(
            context.session,
            services.cipher,
            user_id=context.identity.id,
            who=str(values.get("who")),
            age=int(values.get("age") or 0),
            symptoms=symptoms,
            since=since,
            photo_id=values.get("photo"),
            now=now,
            commune=services.commune.code,
        )
        context.audit("health.consult_open", subject=f"consult:{consult.id}")
        position = await queue_position(context.session, consult)
        minutes = math.ceil(position * services.settings.consult_average_minutes)
        # The commune's doctor on duty answers first.
        first = (await self.duty_chain(context.session, services, now))[:1]
        await self._tell(context.session, services, consult, "new", f"consult-new:{consult.id}",
                         {user: {"doctor"} for user in first})
        consult.notified = _ids(user.id for user in first)
        context.set_state(State(FLOW, {"id": consult.id}))
        replies.append(Reply(context.t("health.ack", id=consult.id, position=position, minutes=minutes)))
        return replies

    async def relay(self, context: Context) -> list[Reply] | None:
        """The villager's further text goes to the open consult; anything else takes normal routing."""
        assert context.state is not None
        consult = await _own_open(context, int(context.state.data.get("id", 0)))
        if consult is None:
            context.set_state(None)
            return None
        if not await has_consent(context.session, context.identity.id, "health"):
            context.set_state(None)  # consent withdrawn: nothing more is stored
            return None
        if context.incoming.attachment is not None:
            return await self._relay_photo(context, consult)
        text = (context.incoming.text or "").strip()
        if context.incoming.button is not None or not text or text.startswith("/"):
            return None
        if answers.is_cancel(text, strict=True):  # "hủy", "dừng" alone: not for the doctor; the consult stays
            context.set_state(None)
            return [menu.with_menu(context, context.t("health.relay_stopped", id=consult.id))]
        await self._record_patient_message(context, consult, text=text)
        if context.understand(text).intent == EMERGENCY:
            return None  # kept in the consult too, but the emergency handler answers (115 first) and alerts
        return [Reply(context.t("health.relayed", id=consult.id))]

    async def _relay_photo(self, context: Context, consult: Consult) -> list[Reply]:
        stored = await store_upload(context, sealed=True)  # a health photo: sealed at rest
        if isinstance(stored, Reply):
            return [stored]
        await self._record_patient_message(context, consult, media_id=stored)
        return [Reply(context.t("health.relayed", id=consult.id))]

    async def _record_patient_message(self, context: Context, consult: Consult, *, text: str | None = None,
                                      media_id: str | None = None) -> None:
        """Keeps what the villager sent (sealed), audits it and tells the doctors."""
        message = await add_message(context.session, context.services.cipher, consult, author="patient",
                                    author_id=context.identity.id, text=text, media_id=media_id,
                                    now=self.clock())
        context.audit("health.consult_message", subject=f"consult:{consult.id}",
                      detail={"message": message.id})
        await self._tell_doctors(context.session, context.services, consult, "message",
                                 f"consult-message:{message.id}")

    async def _tell_doctors(self, session: AsyncSession, services: Services, consult: Consult, kind: str,
                            key: str) -> None:
        """A follow-up goes to the doctor who answered, else to the doctors told of the consult so far (of
        its commune, as they are now)."""
        doctors = await role_holders(session, "doctor", commune=consult.commune)
        told = _id_set(consult.notified)
        wanted = {consult.doctor_id} if consult.doctor_id is not None else told
        chosen = {user: held for user, held in doctors.items() if not wanted or user.id in wanted}
        await self._tell(session, services, consult, kind, key, chosen)

    async def _tell(self, session: AsyncSession, services: Services, consult: Consult, kind: str, key: str,
                    users: dict[User, set[str]], minutes: float | None = None) -> None:
        t = services.catalogue.t
        waited = int(minutes if minutes is not None else services.settings.consult_escalate_minutes)
        for user, held in users.items():
            text = t(
                f"health.notify.{kind}",
                user.language,
                id=consult.id,
                patient=consult.user_id,
                age=consult.age,
                who=t(f"health.who.{consult.who}", user.language),
                minutes=waited,
            )
            buttons = (
                (
                    Button(
                        t("health.button.open", user.language, id=consult.id), f"{FAMILY}:open:{consult.id}"
                    ),
                )
                if "doctor" in held
                else ()
            )
            await notify(session, services, user, Reply(text, buttons), f"{key}:{user.id}")

    async def duty_chain(self, session: AsyncSession, services: Services, now: dt.datetime) -> list[User]:
        """The commune's doctor accounts in escalation order: those linked to a roster name, on duty first,
        each group in roster order; then doctor accounts not on the roster, oldest first."""
        commune = services.commune.code
        doctors = {user.id: user for user in await users_with_role(session, "doctor", commune=commune)}
        linked = await self._links(session, services) if self.roster is not None else {}
        chain = [doctors[linked[d.id]] for d in (self.roster.duty_order(now) if self.roster else [])
                 if d.id in linked and linked[d.id] in doctors]
        return chain + [user for user_id, user in sorted(doctors.items()) if user not in chain]

    @staticmethod
    async def _links(session: AsyncSession, services: Services) -> dict[str, int]:
        """The commune's roster ids → the doctor accounts linked to them."""
        return await links(session, services.commune.code, services.settings.commune_code)

    # -- the doctors

    async def queue(self, context: Context) -> list[Reply]:
        consults, total = await waiting(context.session, _commune(context))
        context.audit("health.queue", detail={"open": total})
        desk_buttons = await self._desk_buttons(context)
        ask = ("\n\n" + context.t("appointments.roster_ask")) if any(
            b.data.startswith(f"{FAMILY}:iam:") for b in desk_buttons) else ""
        if not consults:
            return [Reply(context.t("health.queue_empty") + ask, desk_buttons)]
        lines = []
        for consult in consults:
            context.audit("health.consult_read", subject=f"consult:{consult.id}", detail={"view": "queue"})
            words = unseal(context.services.cipher, consult.symptoms_enc, "symptoms", consult.id).split()
            first = " ".join(words[:_QUEUE_SYMPTOM_WORDS]) + (
                "…" if len(words) > _QUEUE_SYMPTOM_WORDS else ""
            )
            lines.append(
                context.t(
                    "health.queue_line",
                    id=consult.id,
                    patient=consult.user_id,
                    age=consult.age,
                    who=context.t(f"health.who.{consult.who}"),
                    status=context.t(f"health.status.{consult.status}"),
                    symptoms=first,
                )
            )
        buttons = tuple(
            Button(context.t("health.button.open", id=c.id), f"{FAMILY}:open:{c.id}") for c in consults
        )
        text = context.t("health.queue", count=total, lines="\n".join(lines)) + ask
        return [Reply(text, buttons + desk_buttons)]

    async def _desk_buttons(self, context: Context) -> tuple[Button, ...]:
        """Today's appointments; and, until this account says which roster name it is, the names."""
        buttons: list[Button] = []
        if self.appointments is not None:
            count = await self.appointments.count_today(context)
            buttons.append(Button(context.t("appointments.button.today", count=count), f"{FAMILY}:today"))
        if self.roster is not None and self.roster.doctors:
            linked = await self._links(context.session, context.services)
            if context.identity.id not in linked.values():
                buttons.extend(Button(d.name, f"{FAMILY}:iam:{d.id}") for d in self.roster.doctors)
        return tuple(buttons)

    async def show(self, context: Context, consult_id: int) -> list[Reply]:
        consult = await consult_in(context.session, consult_id, _commune(context))
        if consult is None:
            context.audit("health.consult_read", subject=f"consult:{consult_id}", outcome="not_found")
            return [Reply(context.t("health.not_found", id=consult_id))]
        context.audit("health.consult_read", subject=f"consult:{consult.id}", detail={"view": "full"})
        cipher = context.services.cipher
        lines = [
            f"• {_moment(m.at)} {context.t(f'health.author.{m.author}')}: "
            + (unseal(cipher, m.text_enc, "message", m.id) or self._link(context, m.media_id or ""))
            for m in await messages_of(context.session, consult.id)
        ]
        photo = (
            context.t("health.view_photo", url=self._link(context, consult.photo_id))
            if consult.photo_id
            else ""
        )
        return [
            Reply(
                context.t(
                    "health.view",
                    id=consult.id,
                    patient=consult.user_id,
                    age=consult.age,
                    who=context.t(f"health.who.{consult.who}"),
                    status=context.t(f"health.status.{consult.status}"),
                    at=_moment(consult.created_at),
                    symptoms=unseal(cipher, consult.symptoms_enc, "symptoms", consult.id),
                    since=unseal(cipher, consult.since_enc, "since", consult.id),
                    photo=photo,
                    messages=context.t("health.view_messages", lines="\n".join(lines)) if lines else "",
                ),
                self._consult_buttons(context, consult),
            )
        ]

    @staticmethod
    def _consult_buttons(context: Context, consult: Consult) -> tuple[Button, ...]:
        """Answer and close with a tap, not only typed commands."""
        if consult.status == CLOSED:
            return ()
        return (Button(context.t("health.button.answer", id=consult.id), f"{FAMILY}:reply:{consult.id}"),
                Button(context.t("health.button.close", id=consult.id), f"{FAMILY}:close:{consult.id}"))

    def _link(self, context: Context, media_id: str) -> str:
        """The doctor's own link: a sealed photo opens only through it, and each opening is audited."""
        return media_url(context.services.hasher, context.services.settings.public_url, media_id,
                         viewer=context.identity.id)

    async def _open_one(self, context: Context, raw: str, action: str, usage: str) -> Consult | list[Reply]:
        """The open consult `raw` names («#12», «12»), or the polite answer: the command's `usage` without a
        number, «not found» for a consult that does not exist or is closed (audited under `action`)."""
        number = _number(raw)
        if number is None:
            return [Reply(context.t(usage))]
        consult = await consult_in(context.session, number, _commune(context))
        if consult is None or consult.status == CLOSED:
            context.audit(action, subject=f"consult:{number}", outcome="not_found")
            return [Reply(context.t("health.not_found", id=number))]
        return consult

    async def answer(self, context: Context) -> list[Reply]:
        raw, _, text = context.args.partition(" ")
        return await self._answer(context, raw, text.strip())

    async def composing(self, context: Context) -> list[Reply] | None:
        """The doctor pressed «Trả lời»: the next text is the answer to that consult."""
        assert context.state is not None
        text = (context.incoming.text or "").strip()
        if context.incoming.button is not None or not text or text.startswith("/"):
            context.set_state(None)
            return None
        context.set_state(None)
        if not context.identity.has_any({"doctor"}):
            return None  # the role was taken back meanwhile: nothing is sent
        if answers.is_cancel(text, strict=True):  # a stop word alone; a sentence holding one is the answer
            return [Reply(context.t("health.answer_cancelled"))]
        if "alert" in context.state.data:
            return await self.answer_alert(context, int(context.state.data["alert"]), text)
        return await self._answer(context, str(context.state.data.get("id", "")), text)

    async def _answer(self, context: Context, raw: str, text: str) -> list[Reply]:
        if not text:
            return [Reply(context.t("health.usage.answer"))]
        found = await self._open_one(context, raw, "health.consult_answer", "health.usage.answer")
        if not isinstance(found, Consult):
            return found
        now = self.clock()
        message = await add_message(
            context.session,
            context.services.cipher,
            found,
            author="doctor",
            author_id=context.identity.id,
            text=text,
            now=now,
        )
        found.status, found.doctor_id = ANSWERED, context.identity.id
        found.answered_at = found.answered_at or now
        context.audit("health.consult_answer", subject=f"consult:{found.id}", detail={"message": message.id})
        patient = await context.session.get(User, found.user_id)
        if patient is not None:
            t = context.services.catalogue.t
            notice = t("health.notify.answer", patient.language, id=found.id, text=text)
            reply_button = Button(t("health.button.reply_doctor", patient.language),
                                  f"{PUBLIC_FAMILY}:reply:{found.id}")
            await notify(context.session, context.services, patient, Reply(notice, (reply_button,)),
                         f"consult-answer:{message.id}")
        return [Reply(context.t("health.answered", id=found.id, patient=found.user_id))]

    async def close(self, context: Context, raw: str | None = None) -> list[Reply]:
        found = await self._open_one(context, context.args if raw is None else raw, "health.consult_close",
                                     "health.usage.close")
        if not isinstance(found, Consult):
            return found
        found.status, found.closed_at = CLOSED, self.clock()
        context.audit("health.consult_close", subject=f"consult:{found.id}")
        patient = await context.session.get(User, found.user_id)
        if patient is not None:
            await notify(context.session, context.services, patient, "health.notify.closed",
                         f"consult-closed:{found.id}", id=found.id)
        return [Reply(context.t("health.closed", id=found.id))]

    # -- the doctors' buttons (bots/services/health/unit.py): `doctor:<action>[:<number>]`

    @staticmethod
    async def unknown(context: Context) -> list[Reply]:
        return [Reply(context.t("unknown_button"))]

    @_numbered
    async def open_pressed(self, context: Context, number: int) -> list[Reply]:
        return await self.show(context, number)

    @_numbered
    async def alert_pressed(self, context: Context, number: int) -> list[Reply]:
        return await self.read_alert(context, number)

    @_numbered
    async def take_pressed(self, context: Context, number: int) -> list[Reply]:
        return await self.take_alert(context, number)

    @_numbered
    async def close_pressed(self, context: Context, number: int) -> list[Reply]:
        return await self.close(context, str(number))

    @_numbered
    async def reply_pressed(self, context: Context, number: int) -> list[Reply]:
        """«Trả lời»: the doctor's next text is the answer to that consult (`composing`)."""
        context.set_state(State(COMPOSE_FLOW, {"id": number}))
        return [Reply(context.t("health.answer_prompt", id=number),
                      (Button(context.t("health.button.cancel_answer"), f"{FAMILY}:queue"),))]

    @_numbered
    async def alert_reply_pressed(self, context: Context, number: int) -> list[Reply]:
        """The doctor writes to an emergency caller: the next text goes to them (`answer_alert`)."""
        context.set_state(State(COMPOSE_FLOW, {"alert": number}))
        return [Reply(context.t("health.alert.reply_prompt", id=number),
                      (Button(context.t("health.button.cancel_answer"), f"{FAMILY}:queue"),))]

    async def today_pressed(self, context: Context) -> list[Reply]:
        if self.appointments is None:
            return await self.unknown(context)
        return await self.appointments.today(context)

    async def iam_pressed(self, context: Context) -> list[Reply]:
        """`doctor:iam:<roster id>`: this account is that doctor of its commune's roster (another commune's
        name is unknown here)."""
        doctor = self.roster.doctor(context.pressed.arg) if self.roster is not None else None
        if doctor is None:
            return await self.unknown(context)
        stored = scoped(doctor.id, _commune(context), context.services.settings.commune_code)
        await link_doctor(context.session, stored, context.identity.id, self.clock())
        context.audit("health.roster_link", subject=f"roster:{doctor.id}")
        return [Reply(context.t("appointments.roster_linked", name=doctor.name))]

    # -- escalation

    async def escalate(self, services: Services, session: AsyncSession) -> list[int]:
        """Unanswered consults of the commune (`services.commune`) move along its roster. After the
        configured time (step 1) the next doctor in duty order who was not told yet, and staff, are alerted;
        after twice that (step 2) every other doctor and staff again. Returns the ids of the consults
        escalated now."""
        now = self.clock()
        commune = services.commune.code
        limit = dt.timedelta(minutes=services.settings.consult_escalate_minutes)
        late = await unanswered_since(session, now - limit, commune)
        escalated = []
        for consult in late:
            step = consult.escalation_step + 1
            if consult.created_at > now - step * limit:
                continue
            told = _id_set(consult.notified)
            chain = await self.duty_chain(session, services, now)
            waiting_doctors = [user for user in chain if user.id not in told]
            doctors = waiting_doctors[:1] if step == 1 else waiting_doctors
            station_staff = await role_holders(session, "staff", commune=commune)
            staff = {user: held for user, held in station_staff.items()
                     if user not in doctors}
            recipients = {**{user: {"doctor"} for user in doctors}, **staff}
            if not await claim_escalation(session, consult, step, now):
                continue  # another node's task took this step, or the doctor answered meanwhile
            consult.notified = _ids([*told, *(user.id for user in doctors)])
            key = f"consult-escalated:{consult.id}:{step}"
            await self._tell(session, services, consult, "escalated", key, recipients,
                             minutes=step * services.settings.consult_escalate_minutes)
            escalated.append(consult.id)
        if escalated:
            await session.flush()
        return escalated


def _ids(ids: Iterable[int]) -> str:
    return "".join(f",{user_id}" for user_id in sorted(set(ids))) + ","


def _id_set(raw: str) -> set[int]:
    return {int(part) for part in raw.split(",") if part.isdigit()}


async def run_escalation(
    database: Database, services: Services, stop: asyncio.Event, *, desk: HealthDesk, interval: float = 60.0
) -> None:
    """The server's periodic task: escalates late consults until `stop` is set; failures are logged."""
    while not stop.is_set():
        try:
            async with database.session() as session:
                escalated = await desk.escalate(services, session)
            for consult_id in escalated:  # once committed
                await services.audit.record(
                    "system", "health.consult_escalated", subject=f"consult:{consult_id}"
                )
        except Exception:
            log.exception("consult escalation failed; retrying in %s s", interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)




__all__ = ["OPEN", "HealthDesk", "category_of", "run_escalation"]
