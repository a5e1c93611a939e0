"""Staff write an announcement: `/announce TEXT` (or `/announce` and then the text) → audience (the
whole commune or some hamlets) → topic → now or a time → preview with its audio → confirm.

On confirmation it is signed with the commune's key (the same envelope as dossier results, so
`/verify/{code}` shows it), stored, audited, and published at once or by the scheduler. `/announce` and
every `announce:` button are staff-only in core (core/roles.py); typed steps arrive in the `announce`
state, which only a staff member's own `/announce` opens.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete

from backends.loudspeaker.audio import MP3_TYPE, OGG_TYPE
from backends.loudspeaker.store import PUBLISHED, SCHEDULED, Announcement
from backends.loudspeaker.tts import Speech, Spoken, TTSUnavailable
from bots.dialogue.base import Context, FlowHandler
from bots.dialogue.steps import Pressed, Step, flow_button
from bots.services.announcements.scheduler import (
    SIGNED_KIND,
    audience_label,
    audio_url,
    hamlets,
    local_time,
    presets,
    publish,
    topic_label,
    topics,
)
from core import answers
from core.media import store_media
from core.messages import Button, Reply
from core.models import Media, utcnow
from core.signing import sign_and_store
from core.signing.envelope import format_time, sha256_hex
from core.state import State, load_state
from core.text import fold
from core.timezones import VIETNAM
from nlu.datetime import find_datetimes

FLOW = "announce"
FAMILY = "announce"
MIN_TEXT, MAX_TEXT = 5, 1000
MAX_AHEAD = dt.timedelta(days=90)
PAST_GRACE = dt.timedelta(minutes=1)
_NOW_WORDS = frozenset({"now", "ngay", "ngay bay gio", "bay gio", "luon", "ngay luon", "phat ngay"})
_PERIOD_TIMES = {"morning": "07:00", "noon": "11:30", "afternoon": "14:00", "evening": "18:00",
                 "night": "20:00"}
_CLOCK = re.compile(r"^\d{2}:\d{2}$")
_ENGLISH_DAYS = {"tomorrow": "ngày mai", "today": "hôm nay", "tonight": "tối nay"}


def _cancel_button(context: Context) -> Button:
    return Button(context.t("announce.button.cancel"), f"{FAMILY}:cancel", means="cancel")


async def command(context: Context) -> list[Reply]:
    await _forget_preview(context)
    text = context.args
    if not text:
        context.set_state(State(FLOW, {"step": "text"}))
        return [Reply(context.t("announce.ask_text"), (_cancel_button(context),))]
    return await _got_text(context, text)


async def typed(context: Context) -> list[Reply] | None:
    """The `announce` state: typed text for the text and time steps; buttons route as usual."""
    if context.incoming.button is not None or (context.incoming.text or "").startswith("/"):
        return None
    assert context.state is not None
    step = context.state.data.get("step")
    text = (context.incoming.text or "").strip()
    # The text is free: only a stop word alone stops there ("Dừng cấp nước sáng mai" is an announcement).
    if text and answers.is_cancel(text, strict=step == "text"):
        return await cancel(context)
    if text and answers.is_back(text):
        return await _back(context, dict(context.state.data))
    if step == "text":
        return await _got_text(context, text)
    if step == "when" and text:
        at = parse_when(text, utcnow())
        if at is None:
            return [Reply(context.t("announce.time_unclear"), _when_buttons(context))]
        return await _at_time(context, at)
    return [_step_reply(context, context.state.data)]


# -- the `announce:<action>[:<argument>]` buttons (bots/services/announcements/unit.py)


async def cancel(context: Context) -> list[Reply]:
    await _forget_preview(context)
    context.set_state(None)
    return [Reply(context.t("announce.cancelled"))]


# The steps in order; "quay lại" goes to the one before (the text is asked again from the audience).
_STEPS = ("text", "audience", "topic", "when", "preview")
SPEAKING = "speaking"  # the time chosen last, while its voice is being made (_at_time)
# What "when" made:
_PREVIEW_KEYS = frozenset({"at", "mp3", "ogg", "duration", "mp3_sha256", "engine", SPEAKING})


async def _back(context: Context, data: dict[str, Any]) -> list[Reply]:
    step = str(data.get("step"))
    if step not in _STEPS[1:]:
        first = context.t("form.at_first") + "\n" + context.t("announce.ask_text")
        return [Reply(first, (_cancel_button(context),))]
    if step == "preview":  # its audio is made again once a time is chosen
        await _forget_preview(context)
        data = {key: value for key, value in data.items() if key not in _PREVIEW_KEYS}
    if step == "audience":
        context.set_state(State(FLOW, {"step": "text"}))
        return [Reply(context.t("announce.ask_text"), (_cancel_button(context),))]
    return _move(context, data, _STEPS[_STEPS.index(step) - 1])


def _writing(context: Context) -> dict[str, Any] | None:
    """The announcement being written (a copy of its state), or None."""
    state = context.state
    return dict(state.data) if state is not None and state.flow == FLOW else None


def _expired(context: Context) -> list[Reply]:
    return [Reply(context.t("announce.expired"))]


async def _again(context: Context, data: dict[str, Any]) -> list[Reply]:
    return [_step_reply(context, data)]


def _at(step: str | None) -> Callable[[Step], Pressed]:
    """A button that belongs to `step` of the announcement being written (None: to any). Without one it has
    expired; at another step (an old button), or when the handler declines it (None), the current step is
    asked again."""
    return flow_button(_writing, _expired, _again,
                       None if step is None else lambda data: data.get("step") == step)


@_at("audience")
async def hamlet(context: Context, data: dict[str, Any], argument: str) -> list[Reply] | None:
    """A hamlet on or off the audience."""
    if argument not in hamlets(context.services):
        return None
    chosen = [item for item in data.get("hamlets", []) if item != argument]
    if argument not in data.get("hamlets", []):
        chosen.append(argument)
    data["hamlets"] = [item for item in hamlets(context.services) if item in chosen]
    return _move(context, data, "audience")


@_at("audience")
async def whole_commune(context: Context, data: dict[str, Any], argument: str) -> list[Reply] | None:
    return _move(context, {**data, "hamlets": []}, "topic")


@_at("audience")
async def audience_done(context: Context, data: dict[str, Any], argument: str) -> list[Reply] | None:
    return _move(context, data, "topic")


@_at("topic")
async def topic(context: Context, data: dict[str, Any], argument: str) -> list[Reply] | None:
    if argument not in {item.id for item in topics(context.services)}:
        return None
    return _move(context, {**data, "topic": argument}, "when")


@_at("when")
async def when(context: Context, data: dict[str, Any], argument: str) -> list[Reply] | None:
    """Now, tonight or tomorrow at the commune's usual times."""
    at = _preset(context, argument)
    if at is None:
        return [Reply(context.t("announce.time_unclear"), _when_buttons(context))]
    return await _at_time(context, at)


@_at("preview")
async def edit(context: Context, data: dict[str, Any], argument: str) -> list[Reply] | None:
    await _forget_preview(context)
    context.set_state(State(FLOW, {"step": "text"}))
    return [Reply(context.t("announce.ask_text"), (_cancel_button(context),))]


@_at("preview")
async def confirm(context: Context, data: dict[str, Any], argument: str) -> list[Reply] | None:
    return await _confirm(context, data)


@_at(None)
async def unknown(context: Context, data: dict[str, Any], argument: str) -> list[Reply] | None:
    """An action that is not ours: the current step again (or, with no announcement open, expired)."""
    return None


# -- steps


async def _got_text(context: Context, text: str) -> list[Reply]:
    text = re.sub(r"[ \t]+", " ", text).strip()
    if not MIN_TEXT <= len(text) <= MAX_TEXT:
        context.set_state(State(FLOW, {"step": "text"}))
        problem = context.t("announce.text_length", min=MIN_TEXT, max=MAX_TEXT)
        return [Reply(problem, (_cancel_button(context),))]
    if context.services.speech is not None:
        context.services.speech.warm(text, "vi")  # ready by the preview, made outside this transaction
    return _move(context, {"text": text, "hamlets": []}, "audience")


def _move(context: Context, data: dict[str, Any], step: str) -> list[Reply]:
    data = {**data, "step": step}
    context.set_state(State(FLOW, data))
    return [_step_reply(context, data)]


def _step_reply(context: Context, data: dict[str, Any]) -> Reply:
    services = context.services
    step = data.get("step")
    if step == "audience":
        chosen = set(data.get("hamlets") or [])
        buttons = [Button(context.t("announce.button.all"), f"{FAMILY}:all")]
        buttons += [Button(("✅ " if hamlet_id in chosen else "⬜ ") + name, f"{FAMILY}:hamlet:{hamlet_id}")
                    for hamlet_id, name in hamlets(services).items()]
        if chosen:
            buttons.append(Button(context.t("announce.button.next"), f"{FAMILY}:next"))
        buttons.append(_cancel_button(context))
        return Reply(context.t("announce.ask_audience"), tuple(buttons))
    if step == "topic":
        buttons = [Button(topic_label(services, item.id, context.lang), f"{FAMILY}:topic:{item.id}")
                   for item in topics(services)]
        return Reply(context.t("announce.ask_topic"), (*buttons, _cancel_button(context)))
    if step == "when":
        return Reply(context.t("announce.ask_when"), _when_buttons(context))
    if step == "preview":
        return _preview_reply(context, data)
    return Reply(context.t("announce.ask_text"), (_cancel_button(context),))


def _when_buttons(context: Context) -> tuple[Button, ...]:
    buttons = [Button(context.t("announce.button.now"), f"{FAMILY}:when:now")]
    for name in ("tonight", "tomorrow"):
        at = _preset(context, name)
        if at is not None:
            buttons.append(Button(context.t(f"announce.button.{name}", time=presets(context.services)[name]),
                                  f"{FAMILY}:when:{name}"))
    return (*buttons, _cancel_button(context))


def _preset(context: Context, name: str) -> dt.datetime | None:
    now = utcnow()
    if name == "now":
        return now
    clock = presets(context.services).get(name)
    if clock is None or not _CLOCK.match(clock):
        return None
    day = now.astimezone(VIETNAM).date() + dt.timedelta(days=1 if name == "tomorrow" else 0)
    at = _vietnam(day, clock)
    return at if at > now else None


def _vietnam(day: dt.date, clock: str) -> dt.datetime:
    hour, minute = (int(part) for part in clock.split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute), VIETNAM).astimezone(dt.UTC)


def parse_when(text: str, now: dt.datetime) -> dt.datetime | None:
    """Vietnamese (or English) for "now", or a date and/or time such as "18:00 tối nay", "6h30 sáng
    mai", "7 giờ ngày 28/11", "6:30 tomorrow"; read in Vietnam time, returned in UTC."""
    folded = fold(text).strip(" .!")
    if folded in _NOW_WORDS:
        return now
    for word, vietnamese in _ENGLISH_DAYS.items():
        text = re.sub(rf"\b{word}\b", vietnamese, text, flags=re.IGNORECASE)
    found = {entity.entity: entity.value for entity in find_datetimes(text, now)}
    if "time" not in found:
        return None
    clock = _PERIOD_TIMES.get(found["time"], found["time"])
    day = dt.date.fromisoformat(found["date"]) if "date" in found else now.astimezone(VIETNAM).date()
    try:
        return _vietnam(day, clock)
    except ValueError:
        return None


async def _at_time(context: Context, at: dt.datetime) -> list[Reply]:
    assert context.state is not None
    now = utcnow()
    if at < now - PAST_GRACE:
        return [Reply(context.t("announce.time_past"), _when_buttons(context))]
    if at > now + MAX_AHEAD:
        return [Reply(context.t("announce.time_far", days=MAX_AHEAD.days), _when_buttons(context))]
    data = {**context.state.data, "at": None if at <= now + PAST_GRACE else at.isoformat()}
    speech = context.services.speech
    if speech is None:
        return [Reply(context.t("announce.no_audio"), _when_buttons(context))]
    # The voice is made once this turn has committed, outside the writer lock; the preview follows in a
    # short transaction of its own. The token tells that one whether this is still the time chosen last.
    data[SPEAKING] = secrets.token_hex(8)
    context.set_state(State(FLOW, data))
    context.after_commit(functools.partial(_speak_preview, speech, data))
    return []


async def _speak_preview(speech: Speech, data: dict[str, Any]) -> FlowHandler:
    """After the turn that chose the time, no lock held: the synthesis; then the preview with it."""
    try:
        spoken = await speech.speak(str(data["text"]), "vi")
    except TTSUnavailable:
        return functools.partial(_not_spoken, data)
    return functools.partial(_spoken_preview, data, spoken)


async def _still_speaking(context: Context, data: dict[str, Any]) -> State | None:
    """The announcement's state if it still waits for this voice (the official has not moved on)."""
    current = await load_state(context.session, context.identity.id, context.services.cipher)
    if (current is None or current.flow != FLOW or current.data.get("step") != "when"
            or current.data.get(SPEAKING) != data[SPEAKING]):
        return None
    return current


async def _spoken_preview(data: dict[str, Any], spoken: Spoken, context: Context) -> list[Reply]:
    current = await _still_speaking(context, data)
    if current is None:
        return []  # another time, a cancel or another announcement came meanwhile: this voice is not kept
    context.state = current
    await _forget_preview(context)
    data = {key: value for key, value in current.data.items() if key != SPEAKING}
    data["mp3"] = await store_media(context.session, spoken.mp3, MP3_TYPE)
    data["ogg"] = await store_media(context.session, spoken.ogg, OGG_TYPE)
    data["duration"] = round(spoken.duration, 1)
    data["mp3_sha256"] = sha256_hex(spoken.mp3)
    data["engine"] = spoken.engine
    data["step"] = "preview"
    context.set_state(State(FLOW, data))
    return [_preview_reply(context, data)]


async def _not_spoken(data: dict[str, Any], context: Context) -> list[Reply]:
    """No voice could be made: the time is asked again, as before it was chosen."""
    current = await _still_speaking(context, data)
    if current is None:
        return []
    context.set_state(State(FLOW, {key: value for key, value in current.data.items()
                                   if key not in (SPEAKING, "at")}))
    return [Reply(context.t("announce.no_audio"), _when_buttons(context))]


def _when_label(context: Context, data: dict[str, Any]) -> str:
    at = data.get("at")
    return context.t("announce.when_now") if not at else local_time(dt.datetime.fromisoformat(str(at)))


def _preview_reply(context: Context, data: dict[str, Any]) -> Reply:
    services = context.services
    text = context.t("announce.preview", text=data["text"], topic=topic_label(services, str(data["topic"]),
                                                                             context.lang),
                     audience=audience_label(services, list(data.get("hamlets") or []),
                                             context.lang),
                     when=_when_label(context, data), seconds=data["duration"])
    media_id = str(data["ogg"] if context.incoming.channel == "telegram" else data["mp3"])
    return Reply(text, (Button(context.t("announce.button.confirm"), f"{FAMILY}:confirm", means="yes"),
                        Button(context.t("announce.button.edit"), f"{FAMILY}:edit"),
                        _cancel_button(context)),
                 audio_url=audio_url(services, media_id))


async def _confirm(context: Context, data: dict[str, Any]) -> list[Reply]:
    services = context.services
    signer = services.keyring.signer
    if signer is None:
        return [Reply(context.t("announce.no_key"))]
    now = utcnow()
    scheduled = dt.datetime.fromisoformat(str(data["at"])) if data.get("at") else None
    if scheduled is not None and scheduled < now - PAST_GRACE:
        return _move(context, data, "when")
    publish_at = scheduled or now
    own = hamlets(services)  # the commune's: the official's, whose announcement this is
    hamlet_ids = [str(item) for item in data.get("hamlets") or [] if item in own]
    mp3_id = str(data["mp3"])
    document = {
        "commune": services.commune.name,
        "text": data["text"],
        "lang": "vi",
        "topic": data["topic"],
        "hamlets": hamlet_ids,
        "publish_at": format_time(publish_at),
        "audio": {"url": audio_url(services, mp3_id), "sha256": data["mp3_sha256"],
                  "content_type": MP3_TYPE, "seconds": data["duration"]},
    }
    subject = f"announcement:{publish_at:%Y%m%d%H%M}"
    record = await sign_and_store(context.session, signer, SIGNED_KIND, subject, document)
    announcement = Announcement(
        commune=services.commune.code, text=str(data["text"]), topic=str(data["topic"]), hamlets=hamlet_ids,
        lang="vi", status=SCHEDULED if scheduled else PUBLISHED, publish_at=publish_at,
        published_at=None if scheduled else now, created_by=context.identity.id, created_at=now,
        code=record.code, mp3_id=mp3_id, ogg_id=str(data["ogg"]), duration=float(data["duration"]))
    context.session.add(announcement)
    await context.session.flush()
    context.set_state(None)
    detail = {"code": record.code, "topic": announcement.topic, "hamlets": len(hamlet_ids)}
    verify = record.verify_url(services.settings.public_url)
    if scheduled:
        context.audit("announce.scheduled", subject=f"announcement:{announcement.id}",
                      detail={**detail, "at": format_time(publish_at)})
        when = local_time(publish_at)
        return [Reply(context.t("announce.scheduled", code=record.code, when=when, url=verify))]
    count = await publish(context.session, services, announcement)
    context.audit("announce.published", subject=f"announcement:{announcement.id}",
                  detail={**detail, "recipients": count})
    return [Reply(context.t("announce.published", code=record.code, count=count, url=verify))]


async def _forget_preview(context: Context) -> None:
    """An abandoned preview's audio is not kept."""
    state = context.state
    if state is None or state.flow != FLOW:
        return
    stale = [str(state.data[key]) for key in ("mp3", "ogg") if state.data.get(key)]
    if stale:
        await context.session.execute(delete(Media).where(Media.id.in_(stale)))
