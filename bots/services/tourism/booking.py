"""Booking a homestay in chat, guest's side: a stay's card, then the check-in day (buttons for the next
free days, or typed: «20/12», «ngay 20 thang 12», «mai», «thu bay», «tomorrow»), the nights (buttons, a
number, or the check-out day typed), the guests, the name and phone the host needs, how to pay the
deposit (the payment providers the shop uses, cash aside: a deposit is paid now), and a summary with the
cancellation rules. Confirming writes the booking and holds its nights in one savepoint
(backends/tourism/bookings.py: a night someone else holds fails it, and the guest chooses other days);
a remote provider's payment starts after the turn, as the shop's does (bots/dialogue/paying.py).

The guest follows their bookings («Đặt phòng của tôi») and cancels one, told first what the rules refund.
Buttons `stay:…` carry a stay id, a day or a booking code, and every one is checked against the draft or
against the guest's own bookings: an old, forged or someone else's button changes nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from backends.payments import PaymentError, PaymentRequest, PaymentStart, format_vnd, ledger
from backends.tourism.bookings import (
    CANCELLED,
    CONFIRMED,
    GUEST,
    REQUESTED,
    STARTING,
    UNPAID,
    UNSTARTED,
    Booking,
    NightTaken,
    Request,
    book,
    by_code,
    cancel,
    move,
    of_user,
    taken_nights,
)
from backends.tourism.places import Stay, Tourism
from bots.dialogue.base import Context
from bots.dialogue.paying import payment_reply, record_start, start_after_commit
from bots.dialogue.steps import flow_button
from bots.services.tourism.notices import (
    GUEST_FAMILY,
    booking_fields,
    day_label,
    tell_hosts,
)
from bots.services.tourism.refunds import refund_by_card, withdraw_after_commit
from core import answers, validators
from core.i18n import local
from core.messages import Button, Reply
from core.models import utcnow
from core.state import State, load_state
from core.text import fold
from core.timezones import VIETNAM
from nlu.datetime import find_datetimes
from nlu.engine import EMERGENCY

FAMILY = GUEST_FAMILY
FLOW = "stay"
DAYS_OFFERED = 5
NIGHTS_OFFERED = 3
GUESTS_OFFERED = 4
MIN_HOLD = dt.timedelta(hours=1)
_NIGHTS_RE = re.compile(r"^(\d{1,3})\s*(dem|toi|ngay|nights?|days?)?$")
_GUESTS_RE = re.compile(r"^(\d{1,3})\s*(nguoi|khach|nguoi lon|guests?|people|persons?|pax)?$")
_WORD_NUMBERS = {
    "mot": 1,
    "hai": 2,
    "ba": 3,
    "bon": 4,
    "tu": 4,
    "nam": 5,
    "sau": 6,
    "bay": 7,
    "tam": 8,
    "chin": 9,
    "muoi": 10,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
}
# Days the date reader does not take as one: «tonight» (a part of the day to it) and the English words.
SAID_DAYS = {"today": 0, "tonight": 0, "tomorrow": 1, "toi nay": 0, "dem nay": 0, "ngay hom nay": 0}
# «2 người lớn, 1 trẻ em»: every count of people in the answer, added up.
_PEOPLE_RE = re.compile(
    r"(\d{1,3})\s*(?:nguoi lon|nguoi|khach|tre em|tre con|tre|chau|be|em be|adults?|"
    r"kids?|children|child|guests?|people|persons?)\b"
)


class _Problem(Exception):
    """A typed answer that cannot be taken: its text is the polite reason."""


@dataclass
class Draft:
    stay: str
    checkin: str | None = None  # ISO day
    checkout: str | None = None
    guests: int | None = None
    name: str | None = None
    phone: str | None = None
    provider: str | None = None  # "" when no deposit is asked
    nonce: str = ""

    @classmethod
    def of(cls, data: dict[str, Any]) -> Draft:
        return cls(
            **{
                key: data.get(key)
                for key in ("stay", "checkin", "checkout", "guests", "name", "phone", "provider")
            },
            nonce=str(data.get("nonce") or ""),
        )

    def data(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @property
    def first(self) -> dt.date | None:
        return dt.date.fromisoformat(self.checkin) if self.checkin else None

    @property
    def last(self) -> dt.date | None:
        return dt.date.fromisoformat(self.checkout) if self.checkout else None


def today() -> dt.date:
    return utcnow().astimezone(VIETNAM).date()


def _gone(context: Context) -> list[Reply]:
    return [
        Reply(context.t("tourism.booking.gone"), (Button(context.t("tourism.button.stays"), "tour:stays"),))
    ]


# A button of the booking being drafted, `stay:<action>:<argument>`: its step fills in a piece, then the
# draft goes on; without a draft, the guest hears it is gone.
_on_draft = flow_button(
    lambda desk, context: desk._draft(context),
    _gone,
    lambda desk, context, draft: desk._advance(context, draft),
)


class BookingDesk:
    def __init__(self, tourism: Tourism) -> None:
        self.tourism = tourism
        self.rules = tourism.rules

    # -- the stays and one stay's card

    def stays(self, context: Context, back: Button) -> Reply:
        stays = list(self.tourism.stays.values())
        lines = [
            context.t(
                "tourism.stay_line",
                name=local(dict(stay.name), context.lang),
                area=local(dict(stay.area), context.lang),
                guests=stay.guests,
                price=format_vnd(stay.price),
            )
            for stay in stays
        ]
        buttons = tuple(
            Button(local(dict(stay.name), context.lang), f"{FAMILY}:view:{stay.id}") for stay in stays
        )
        return Reply(
            context.t("tourism.stays", stays="\n".join(lines)),
            (*buttons, Button(context.t("tourism.booking.button.mine"), f"{FAMILY}:mine"), back),
        )

    def card(self, context: Context, stay: Stay) -> Reply:
        refunds = self._refunds(context)
        text = context.t(
            "tourism.booking.card",
            name=local(dict(stay.name), context.lang),
            area=local(dict(stay.area), context.lang),
            guests=stay.guests,
            price=format_vnd(stay.price),
            description=local(dict(stay.description), context.lang),
            deposit=self.rules.deposit_percent,
            refunds=refunds,
            checkin=self.rules.checkin,
            checkout=self.rules.checkout,
            phone=stay.phone,
        )
        base = context.services.settings.public_url.rstrip("/")
        return Reply(
            text,
            (
                Button(context.t("tourism.booking.button.book"), f"{FAMILY}:book:{stay.id}"),
                Button(context.t("tourism.button.stays"), "tour:stays", means="back"),
            ),
            image_url=f"{base}/tourism/img/{stay.photo}" if stay.photo else None,
        )

    async def view_pressed(self, context: Context) -> list[Reply]:
        stay = self.tourism.stays.get(context.pressed.arg)
        if stay is None:
            return _gone(context)
        return [self.card(context, stay)]

    async def book_pressed(self, context: Context) -> list[Reply]:
        stay = self.tourism.stays.get(context.pressed.arg)
        if stay is None:
            return _gone(context)
        context.audit("tourism.booking_started", subject=f"stay:{stay.id}")
        return await self._advance(context, Draft(stay=stay.id, nonce=secrets.token_hex(8)))

    # -- the draft, one missing piece at a time

    def _draft(self, context: Context) -> Draft | None:
        state = context.state
        if state is None or state.flow != FLOW:
            return None
        draft = Draft.of(state.data)
        return draft if draft.stay in self.tourism.stays else None

    def _cancel_button(self, context: Context) -> Button:
        return Button(context.t("tourism.booking.button.abort"), f"{FAMILY}:abort", means="cancel")

    def _providers(self, context: Context) -> list[str]:
        """The ways a deposit can be paid: every provider but cash (nothing is collected at booking)."""
        return [name for name in context.services.payments.names() if name != "cash"]

    async def _advance(self, context: Context, draft: Draft) -> list[Reply]:
        context.set_state(State(FLOW, draft.data()))
        stay = self.tourism.stays[draft.stay]
        cancel_button = self._cancel_button(context)
        if draft.first is None:
            free = await self._free_days(context, stay)
            buttons = tuple(
                Button(
                    day_label(context.services.catalogue, day, context.lang, short=True),
                    f"{FAMILY}:in:{day.isoformat()}",
                )
                for day in free
            )
            key = "tourism.booking.ask_checkin" if free else "tourism.booking.ask_checkin_none_soon"
            return [
                Reply(context.t(key, stay=local(dict(stay.name), context.lang)), (*buttons, cancel_button))
            ]
        if draft.last is None:
            lengths = await self._free_lengths(context, stay, draft.first)
            buttons = tuple(
                Button(
                    context.t(
                        "tourism.booking.button.nights",
                        nights=n,
                        checkout=day_label(
                            context.services.catalogue,
                            draft.first + dt.timedelta(days=n),
                            context.lang,
                            short=True,
                        ),
                    ),
                    f"{FAMILY}:nights:{n}",
                )
                for n in lengths
            )
            return [
                Reply(
                    context.t(
                        "tourism.booking.ask_nights",
                        checkin=day_label(context.services.catalogue, draft.first, context.lang),
                    ),
                    (*buttons, cancel_button),
                )
            ]
        if draft.guests is None:
            buttons = tuple(
                Button(context.t("tourism.booking.button.guests", guests=n), f"{FAMILY}:guests:{n}")
                for n in range(1, min(stay.guests, GUESTS_OFFERED) + 1)
            )
            return [
                Reply(context.t("tourism.booking.ask_guests", most=stay.guests), (*buttons, cancel_button))
            ]
        if draft.name is None:
            return [Reply(context.t("tourism.booking.ask_name"), (cancel_button,))]
        if draft.phone is None:
            return [Reply(context.t("tourism.booking.ask_phone"), (cancel_button,), request_phone=True)]
        total = stay.price * (draft.last - draft.first).days
        providers = self._providers(context)
        if self.rules.deposit(total) and providers and draft.provider not in providers:
            draft.provider = None
            context.set_state(State(FLOW, draft.data()))
            buttons = tuple(
                Button(
                    context.t(f"tourism.booking.button.pay.{name}")
                    if context.services.catalogue.has(f"tourism.booking.button.pay.{name}")
                    else name,
                    f"{FAMILY}:pay:{name}",
                )
                for name in providers
            )
            return [
                Reply(
                    context.t("tourism.booking.ask_payment", deposit=format_vnd(self.rules.deposit(total))),
                    (*buttons, cancel_button),
                )
            ]
        return [self._summary(context, draft, stay)]

    def _summary(self, context: Context, draft: Draft, stay: Stay) -> Reply:
        assert draft.first is not None and draft.last is not None
        nights = (draft.last - draft.first).days
        total = stay.price * nights
        deposit = self._deposit(context, total)
        if deposit and draft.provider:
            deposit_line = context.t(
                "tourism.booking.deposit_line",
                deposit=format_vnd(deposit),
                payment=context.t(f"tourism.booking.button.pay.{draft.provider}"),
            )
            refunds = self._refunds(context)
        else:
            deposit_line, refunds = (
                context.t("tourism.booking.no_deposit_line"),
                context.t("tourism.booking.free_cancel"),
            )
        text = context.t(
            "tourism.booking.summary",
            stay=local(dict(stay.name), context.lang),
            checkin=day_label(context.services.catalogue, draft.first, context.lang),
            checkout=day_label(context.services.catalogue, draft.last, context.lang),
            nights=nights,
            guests=draft.guests,
            price=format_vnd(stay.price),
            total=format_vnd(total),
            deposit_line=deposit_line,
            name=draft.name,
            phone=draft.phone,
            refunds=refunds,
            checkin_time=self.rules.checkin,
            checkout_time=self.rules.checkout,
        )
        return Reply(
            text,
            (
                Button(
                    context.t("tourism.booking.button.confirm"),
                    f"{FAMILY}:confirm:{draft.nonce}",
                    means="yes",
                ),
                Button(context.t("tourism.booking.button.abort"), f"{FAMILY}:abort", means="no"),
            ),
        )

    def _refunds(self, context: Context) -> str:
        """The cancellation rules in words: «hủy trước 7 ngày trở lên: hoàn 100% tiền cọc; …; muộn hơn:
        không hoàn»."""
        said = [
            context.t("tourism.booking.refund_rule", days=rule.days_before, percent=rule.percent)
            if rule.days_before
            else context.t("tourism.booking.refund_late", percent=rule.percent)
            for rule in self.rules.refunds
        ]
        if not self.rules.refunds or self.rules.refunds[-1].days_before:
            said.append(context.t("tourism.booking.refund_late", percent=0))
        return "; ".join(said)

    def _deposit(self, context: Context, total: int) -> int:
        return self.rules.deposit(total) if self._providers(context) else 0

    async def _free_days(self, context: Context, stay: Stay) -> list[dt.date]:
        first = today()
        window = first + dt.timedelta(days=30)
        taken = await taken_nights(context.session, context.services.commune.code, stay.id, first, window)
        days = [first + dt.timedelta(days=n) for n in range(31)]
        return [day for day in days if day not in taken][:DAYS_OFFERED]

    async def _free_lengths(self, context: Context, stay: Stay, checkin: dt.date) -> list[int]:
        most = self.rules.max_nights
        taken = await taken_nights(
            context.session,
            context.services.commune.code,
            stay.id,
            checkin,
            checkin + dt.timedelta(days=most),
        )
        lengths = []
        for nights in range(1, min(most, NIGHTS_OFFERED) + 1):
            if checkin + dt.timedelta(days=nights - 1) in taken:
                break
            lengths.append(nights)
        return lengths

    # -- checking a day, a stay's length, the guests

    async def _check_checkin(self, context: Context, stay: Stay, day: dt.date) -> None:
        now = today()
        if day < now:
            raise _Problem(
                context.t(
                    "tourism.booking.bad.past", day=day_label(context.services.catalogue, day, context.lang)
                )
            )
        if day > now + dt.timedelta(days=self.rules.ahead_days):
            raise _Problem(context.t("tourism.booking.bad.too_far", days=self.rules.ahead_days))
        if day in await taken_nights(context.session, context.services.commune.code, stay.id, day, day):
            raise _Problem(
                context.t(
                    "tourism.booking.bad.taken", day=day_label(context.services.catalogue, day, context.lang)
                )
            )

    async def _check_checkout(
        self, context: Context, stay: Stay, checkin: dt.date, checkout: dt.date
    ) -> None:
        if checkout <= checkin:
            raise _Problem(
                context.t(
                    "tourism.booking.bad.checkout_before",
                    checkin=day_label(context.services.catalogue, checkin, context.lang),
                )
            )
        if (checkout - checkin).days > self.rules.max_nights:
            raise _Problem(
                context.t("tourism.booking.bad.too_long", most=self.rules.max_nights, phone=stay.phone)
            )
        taken = await taken_nights(
            context.session, context.services.commune.code, stay.id, checkin, checkout - dt.timedelta(days=1)
        )
        if taken:
            raise _Problem(
                context.t(
                    "tourism.booking.bad.taken",
                    day=day_label(context.services.catalogue, min(taken), context.lang),
                )
            )

    def _check_guests(self, context: Context, stay: Stay, guests: int) -> None:
        if guests < 1:
            raise _Problem(context.t("tourism.booking.bad.no_guests"))
        if guests > stay.guests:
            raise _Problem(
                context.t(
                    "tourism.booking.bad.too_many",
                    most=stay.guests,
                    stay=local(dict(stay.name), context.lang),
                )
            )

    # -- typed answers

    async def typed(self, context: Context) -> list[Reply] | None:
        assert context.state is not None
        if context.press is not None:
            if context.press.family != FAMILY:
                context.set_state(None)  # another service's button: the draft is left behind
            return None
        text = (context.incoming.text or "").strip()
        if text.startswith("/"):
            return None
        draft = Draft.of(context.state.data)
        stay = self.tourism.stays.get(draft.stay)
        if stay is None:
            context.set_state(None)
            return _gone(context)
        at_name = draft.guests is not None and draft.name is None
        if text and answers.is_cancel(text, strict=at_name):
            return self._abort(context)
        if text and answers.is_back(text):
            return await self._back(context, draft)
        if text and context.understand(text).intent == EMERGENCY:
            context.set_state(None)
            return None  # the emergency answer (115 first) takes it
        try:
            if draft.first is None:
                day = self._typed_day(context, text)
                await self._check_checkin(context, stay, day)
                draft.checkin = day.isoformat()
            elif draft.last is None:
                checkout = self._typed_checkout(context, text, draft.first)
                await self._check_checkout(context, stay, draft.first, checkout)
                draft.checkout = checkout.isoformat()
            elif draft.guests is None:
                guests = self._typed_count(context, text, _GUESTS_RE, "tourism.booking.bad.guests")
                self._check_guests(context, stay, guests)
                draft.guests = guests
            elif draft.name is None:
                name = validators.name(text)
                if not isinstance(name, validators.Valid):
                    raise _Problem(context.t("tourism.booking.bad.name"))
                draft.name = str(name.value)
            elif draft.phone is None:
                shared = context.incoming.contact
                phone = validators.normalize_phone(shared.phone if shared is not None else text)
                if phone is None:
                    raise _Problem(context.t("tourism.booking.bad.phone"))
                draft.phone = phone
            else:
                return [Reply(context.t("tourism.booking.use_buttons")), *await self._advance(context, draft)]
        except _Problem as problem:
            return [Reply(str(problem)), *await self._advance(context, draft)]
        return await self._advance(context, draft)

    def _typed_day(self, context: Context, text: str) -> dt.date:
        """A day typed as a Vietnamese date («20/12», «ngày 20 tháng 12», «mai», «thứ bảy») or «today»,
        «tomorrow»; a day and month without a year that has passed is next year's."""
        folded = fold(text)
        if folded in SAID_DAYS:
            return today() + dt.timedelta(days=SAID_DAYS[folded])
        now = utcnow().astimezone(VIETNAM)
        days = [entity.value for entity in find_datetimes(text, now) if entity.entity == "date"]
        if len(days) != 1:
            raise _Problem(context.t("tourism.booking.bad.day"))
        day = dt.date.fromisoformat(str(days[0]))
        if day < now.date() and not re.search(r"\d{4}", text) and re.search(r"\d", text):
            try:
                day = day.replace(year=day.year + 1)
            except ValueError:  # 29 February, next year
                raise _Problem(context.t("tourism.booking.bad.day")) from None
        return day

    def _typed_checkout(self, context: Context, text: str, checkin: dt.date) -> dt.date:
        """The nights as a number («2», «2 dem», «hai dem») or the check-out day typed."""
        folded = fold(text)
        match = _NIGHTS_RE.match(folded)
        words = folded.split()
        if match:
            return checkin + dt.timedelta(days=int(match.group(1)))
        if (
            len(words) in (1, 2)
            and words[0] in _WORD_NUMBERS
            and (len(words) == 1 or words[1] in ("dem", "nights", "night"))
        ):
            return checkin + dt.timedelta(days=_WORD_NUMBERS[words[0]])
        return self._typed_day(context, text)

    def _typed_count(self, context: Context, text: str, pattern: re.Pattern[str], bad: str) -> int:
        folded = fold(text)
        match = pattern.match(folded)
        if match:
            return int(match.group(1))
        counts = _PEOPLE_RE.findall(folded)
        if len(counts) > 1:  # «2 nguoi lon, 1 tre em»
            return sum(int(count) for count in counts)
        words = folded.split()
        if words and words[0] in _WORD_NUMBERS and len(words) <= 3:
            return _WORD_NUMBERS[words[0]]
        raise _Problem(context.t(bad))

    async def _back(self, context: Context, draft: Draft) -> list[Reply]:
        """One step back: the piece answered last is asked again."""
        if draft.first is None:
            return [Reply(context.t("form.at_first")), *await self._advance(context, draft)]
        if draft.last is None:
            draft.checkin = None
        elif draft.guests is None:
            draft.checkout = None
        elif draft.name is None:
            draft.guests = None
        elif draft.phone is None:
            draft.name = None
        elif draft.provider:
            draft.provider = None
        else:
            draft.phone = None
        return await self._advance(context, draft)

    def _abort(self, context: Context) -> list[Reply]:
        context.set_state(None)
        return [
            Reply(
                context.t("tourism.booking.aborted"),
                (Button(context.t("tourism.button.stays"), "tour:stays"),),
            )
        ]

    async def abort_pressed(self, context: Context) -> list[Reply]:
        if self._draft(context) is None:
            return _gone(context)
        return self._abort(context)

    # -- the draft's buttons

    @_on_draft
    async def resume(self, context: Context, draft: Draft, arg: str) -> list[Reply] | None:
        return None

    @_on_draft
    async def checkin_pressed(self, context: Context, draft: Draft, arg: str) -> list[Reply] | None:
        day = _day(arg)
        if day is None or draft.first is not None:
            return None
        try:
            await self._check_checkin(context, self.tourism.stays[draft.stay], day)
        except _Problem as problem:
            return [Reply(str(problem)), *await self._advance(context, draft)]
        draft.checkin = day.isoformat()
        return None

    @_on_draft
    async def nights_pressed(self, context: Context, draft: Draft, arg: str) -> list[Reply] | None:
        if not arg.isdigit() or draft.first is None or draft.last is not None:
            return None
        checkout = draft.first + dt.timedelta(days=int(arg))
        try:
            await self._check_checkout(context, self.tourism.stays[draft.stay], draft.first, checkout)
        except _Problem as problem:
            return [Reply(str(problem)), *await self._advance(context, draft)]
        draft.checkout = checkout.isoformat()
        return None

    @_on_draft
    async def guests_pressed(self, context: Context, draft: Draft, arg: str) -> list[Reply] | None:
        if not arg.isdigit() or draft.last is None or draft.guests is not None:
            return None
        try:
            self._check_guests(context, self.tourism.stays[draft.stay], int(arg))
        except _Problem as problem:
            return [Reply(str(problem)), *await self._advance(context, draft)]
        draft.guests = int(arg)
        return None

    @_on_draft
    async def pay_pressed(self, context: Context, draft: Draft, arg: str) -> list[Reply] | None:
        if arg in self._providers(context):
            draft.provider = arg
        return None

    @_on_draft
    async def confirm_pressed(self, context: Context, draft: Draft, arg: str) -> list[Reply] | None:
        return await self.confirm(context, draft, arg)

    # -- booking

    async def confirm(self, context: Context, draft: Draft, nonce: str) -> list[Reply]:
        stay = self.tourism.stays[draft.stay]
        complete = draft.first and draft.last and draft.guests and draft.name and draft.phone
        if nonce != draft.nonce or not complete:
            return await self._advance(context, draft)
        assert draft.first is not None and draft.last is not None and draft.guests is not None
        total = stay.price * (draft.last - draft.first).days
        deposit = self._deposit(context, total)
        provider = context.services.payments.get(draft.provider or "") if deposit else None
        if deposit and provider is None:
            return await self._advance(context, draft)
        try:  # the days may have passed, or filled, since they were chosen
            await self._check_checkin(context, stay, draft.first)
            await self._check_checkout(context, stay, draft.first, draft.last)
            self._check_guests(context, stay, draft.guests)
        except _Problem as problem:
            draft.checkin = draft.checkout = None
            return [Reply(str(problem)), *await self._advance(context, draft)]
        remote = provider is not None and bool(getattr(provider, "remote", True))
        status = REQUESTED if provider is None else (STARTING if remote else UNPAID)
        commune = context.services.commune.code
        request_key = f"{context.identity.id}:{draft.nonce}"
        session = context.session
        start: PaymentStart | None = None
        payment: PaymentRequest | None = None
        try:
            async with session.begin_nested():
                booking = await book(
                    session,
                    context.services.cipher,
                    Request(
                        stay.id,
                        draft.first,
                        draft.last,
                        draft.guests,
                        stay.price,
                        deposit,
                        provider.name if provider else None,
                        draft.name or "",
                        draft.phone or "",
                    ),
                    commune=commune,
                    user_id=context.identity.id,
                    request_key=request_key,
                    status=status,
                    hold_until=self._hold_until(draft.first) if provider else None,
                )
                if provider is not None:
                    payment = PaymentRequest(
                        order_code=booking.code,
                        amount_vnd=deposit,
                        description=f"{booking.code} {local(dict(stay.name), 'vi')} "
                        f"{draft.first:%d/%m}-{draft.last:%d/%m}",
                        idempotency_key=f"booking:{booking.code}:{request_key}",
                    )
                    if not remote:
                        start = await provider.start(payment)
                        await record_start(context, booking.code, deposit, commune, start)
        except NightTaken:
            draft.checkin = draft.checkout = None
            context.audit("tourism.booking", outcome="night_taken", detail={"stay": stay.id})
            return [Reply(context.t("tourism.booking.bad.just_taken")), *await self._advance(context, draft)]
        except PaymentError as failure:
            draft.provider = None
            context.audit(
                "tourism.booking", outcome="payment_unavailable", detail={"provider": failure.provider}
            )
            return [Reply(context.t("tourism.booking.pay_unavailable")), *await self._advance(context, draft)]
        except IntegrityError:  # the same summary confirmed twice at once: the first one won
            context.set_state(None)
            return [Reply(context.t("tourism.booking.already"))]
        context.set_state(None)
        detail = {
            "stay": stay.id,
            "nights": booking.nights,
            "guests": booking.guests,
            "provider": booking.provider or "none",
        }
        if provider is not None and start is None:
            assert payment is not None
            context.audit(
                "tourism.booking",
                subject=f"booking:{booking.code}",
                outcome="payment_starting",
                detail=detail,
            )
            start_after_commit(
                context,
                provider,
                payment,
                lambda later, started: self._started(later, booking.code, started),
                lambda later, failure: self._not_started(later, booking.code, draft, failure),
            )
            return []
        context.audit("tourism.booking", subject=f"booking:{booking.code}", detail=detail)
        return await self._booked(context, booking, start)

    def _hold_until(self, checkin: dt.date) -> dt.datetime:
        """An unpaid booking's nights are held `hold_hours`, and not past noon of its check-in day, but
        always `MIN_HOLD` at least (a booking for tonight made this afternoon has an hour to pay)."""
        now = utcnow()
        noon = dt.datetime.combine(checkin, dt.time(12), tzinfo=VIETNAM)
        return max(min(now + dt.timedelta(hours=self.rules.hold_hours), noon), now + MIN_HOLD)

    async def _started(self, context: Context, code: str, start: PaymentStart) -> list[Reply]:
        session = context.session
        booking = await by_code(session, code, context.services.commune.code)
        if booking is None:
            return []
        if not await move(session, booking, (STARTING,), UNPAID):
            await ledger.record(session, code, booking.deposit_vnd, start, booking.commune)
            await ledger.cancel_pending(session, code)  # cancelled meanwhile: its page takes no money
            context.audit("tourism.booking", subject=f"booking:{code}", outcome="cancelled_while_starting")
            return []
        await record_start(context, code, booking.deposit_vnd, booking.commune, start)
        await session.refresh(booking)
        context.audit(
            "tourism.booking",
            subject=f"booking:{code}",
            detail={
                "stay": booking.stay_id,
                "nights": booking.nights,
                "guests": booking.guests,
                "provider": booking.provider or "none",
            },
        )
        return await self._booked(context, booking, start)

    async def _not_started(
        self, context: Context, code: str, draft: Draft, failure: PaymentError
    ) -> list[Reply]:
        """The card payment could not be started: the booking is cancelled (its nights freed) and the
        guest chooses another way to pay the deposit, from a new summary."""
        session = context.session
        booking = await by_code(session, code, context.services.commune.code)
        if booking is None or not await cancel(session, booking, (STARTING,), UNSTARTED):
            return []
        context.audit(
            "tourism.booking",
            subject=f"booking:{code}",
            outcome="payment_unavailable",
            detail={"provider": failure.provider, "reason": failure.reason},
        )
        unavailable = Reply(context.t("tourism.booking.pay_unavailable"))
        if await load_state(session, context.identity.id, context.services.cipher) is not None:
            return [unavailable]
        draft.provider, draft.nonce = None, secrets.token_hex(8)
        return [unavailable, *await self._advance(context, draft)]

    async def _booked(self, context: Context, booking: Booking, start: PaymentStart | None) -> list[Reply]:
        fields = booking_fields(context.services, self.tourism, booking, context.lang)
        cancel_button = Button(
            context.t("tourism.booking.button.cancel", code=booking.code), f"{FAMILY}:cancel:{booking.code}"
        )
        if start is None or booking.status == REQUESTED:  # no deposit asked, or paid at once
            if start is None:
                await tell_hosts(
                    context.services, context.session, self.tourism, booking, "tourism.host.new", "stay-new"
                )
            return [Reply(context.t("tourism.booking.requested", **fields), (cancel_button,))]
        if booking.provider == "vietqr":  # whoever sees the transfer arrive says so: the host, or staff
            await tell_hosts(
                context.services,
                context.session,
                self.tourism,
                booking,
                "tourism.host.awaiting",
                "stay-awaiting",
            )
        hold = booking.hold_until.astimezone(VIETNAM) if booking.hold_until else None
        placed = Reply(
            context.t(
                "tourism.booking.placed",
                hold=f"{hold:%H:%M} {day_label(context.services.catalogue, hold.date(), context.lang)}"
                if hold
                else "—",
                **fields,
            )
        )
        paying = await payment_reply(
            context,
            "tourism",
            booking.code,
            booking.deposit_vnd,
            start,
            (cancel_button,),
            f"{FAMILY}:show:{booking.code}",
        )
        return [
            placed,
            paying or Reply(context.t("tourism.pay.pending", total=fields["deposit"]), (cancel_button,)),
        ]

    # -- the guest's bookings

    async def mine(self, context: Context) -> list[Reply]:
        bookings = await of_user(context.session, context.identity.id, context.services.commune.code)
        if not bookings:
            return [
                Reply(
                    context.t("tourism.booking.none_yet"),
                    (Button(context.t("tourism.button.stays"), "tour:stays"),),
                )
            ]
        lines = [
            context.t(
                "tourism.booking.line", **booking_fields(context.services, self.tourism, b, context.lang)
            )
            for b in bookings
        ]
        buttons = tuple(
            Button(context.t("tourism.booking.button.cancel", code=b.code), f"{FAMILY}:cancel:{b.code}")
            for b in bookings
            if b.status != CANCELLED and b.checkin >= today()
        )
        return [Reply(context.t("tourism.booking.mine") + "\n\n" + "\n\n".join(lines), buttons)]

    async def _own(self, context: Context) -> Booking | None:
        booking = await by_code(context.session, context.pressed.arg[:16], context.services.commune.code)
        return booking if booking is not None and booking.user_id == context.identity.id else None

    def _refund(self, booking: Booking) -> int:
        """What the rules give back of a paid deposit if the guest cancels today."""
        if booking.paid_at is None:
            return 0
        percent = self.rules.refund_percent((booking.checkin - today()).days)
        return booking.deposit_vnd * percent // 100

    async def show_pressed(self, context: Context) -> list[Reply]:
        booking = await self._own(context)
        if booking is None:
            return [Reply(context.t("tourism.booking.not_found"))]
        fields = booking_fields(context.services, self.tourism, booking, context.lang)
        return [Reply(context.t("tourism.booking.line", **fields))]

    async def cancel_pressed(self, context: Context) -> list[Reply]:
        """The cancellation asked: what the rules refund, then «Đồng ý hủy»."""
        booking = await self._own(context)
        if booking is None:
            return [Reply(context.t("tourism.booking.not_found"))]
        if booking.status == CANCELLED or booking.checkin < today():
            return [Reply(context.t("tourism.booking.cannot_cancel", code=booking.code))]
        refund = self._refund(booking)
        key = "tourism.booking.cancel_ask_paid" if booking.paid_at else "tourism.booking.cancel_ask"
        return [
            Reply(
                context.t(
                    key, code=booking.code, refund=format_vnd(refund), deposit=format_vnd(booking.deposit_vnd)
                ),
                (
                    Button(
                        context.t("tourism.booking.button.cancel_yes"),
                        f"{FAMILY}:cancelok:{booking.code}",
                        means="yes",
                    ),
                    Button(context.t("tourism.booking.button.keep"), f"{FAMILY}:mine", means="no"),
                ),
            )
        ]

    async def cancel_confirmed(self, context: Context) -> list[Reply]:
        booking = await self._own(context)
        if booking is None:
            return [Reply(context.t("tourism.booking.not_found"))]
        if booking.checkin < today():
            return [Reply(context.t("tourism.booking.cannot_cancel", code=booking.code))]
        session = context.session
        refund = self._refund(booking)
        pending = await ledger.payments_of(session, booking.code, ledger.PENDING)
        if not await cancel(
            session,
            booking,
            (STARTING, UNPAID, REQUESTED, CONFIRMED),
            GUEST,
            refund_vnd=refund if booking.paid_at else None,
        ):
            return [Reply(context.t("tourism.booking.cannot_cancel", code=booking.code))]
        await ledger.cancel_pending(session, booking.code)
        withdraw_after_commit(context, [(payment.provider, payment.reference) for payment in pending])
        context.audit(
            "tourism.booking_cancel",
            subject=f"booking:{booking.code}",
            detail={"refund_vnd": refund, "by": GUEST},
        )
        await tell_hosts(
            context.services,
            session,
            self.tourism,
            booking,
            "tourism.host.cancelled",
            "stay-cancelled",
            refund=format_vnd(refund),
        )
        carded = await refund_by_card(context, self.tourism, booking)
        key = (
            "tourism.booking.cancelled_refund_card"
            if carded
            else "tourism.booking.cancelled_refund"
            if refund
            else "tourism.booking.cancelled"
        )
        return [Reply(context.t(key, code=booking.code, refund=format_vnd(refund)))]

    async def unknown(self, context: Context) -> list[Reply]:
        return await self.resume(context)


def _day(arg: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(arg)
    except ValueError:
        return None
