""""🔊 Nghe": long answers of the assistant can be heard, for people who read with difficulty.

The button carries only a digest: the answer itself is kept sealed (FieldCipher, bound to its user) in
`spoken_texts`, and only that user's press finds it. Adding the button synthesises nothing, so no answer
waits for speech; the voice is made when the button is pressed. Staff commands and buttons and replies
that already carry audio get no button; the 115 answer gets one, for those who cannot read it fast.
The voice is made after the press's transaction has committed, never under the writer lock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

from sqlalchemy import delete

from backends.loudspeaker.audio import MP3_TYPE, OGG_TYPE
from backends.loudspeaker.store import SpokenText
from backends.loudspeaker.tts import Speech, Spoken, TTSUnavailable
from bots.dialogue.base import Context, FlowHandler
from core.media import media_url, store_media
from core.messages import Button, Reply
from core.models import utcnow

FAMILY = "listen"
MIN_CHARS = 200
KEEP = dt.timedelta(days=7)


def _context(digest: str, user_id: int) -> str:
    return f"spoken_texts:{digest}:{user_id}"


def wants_button(context: Context, reply: Reply) -> bool:
    return (reply.listen or len(reply.text) > MIN_CHARS) and reply.audio_url is None


async def add_buttons(context: Context, replies: list[Reply]) -> list[Reply]:
    """The dialogue's finisher: a "🔊 Nghe" button under each long answer (and each that asks for one)."""
    incoming = context.incoming
    access = context.assembly.access if context.assembly is not None else None
    if access is None or access.requirement_for(incoming.text, incoming.button) is not None:
        return replies  # staff paths: nothing added
    press = context.press
    if press is not None and press.family == FAMILY:
        return replies  # what is read aloud gets no button of its own
    if context.extras.get("user_deleted"):
        return replies  # the farewell: its user no longer exists
    if context.turn.identity is None or not any(wants_button(context, reply) for reply in replies):
        return replies
    label = context.t("announce.listen.button")
    out: list[Reply] = []
    for reply in replies:
        if wants_button(context, reply):
            digest = await _keep(context, reply.text)
            reply = dataclasses.replace(reply, buttons=(*reply.buttons, Button(label, f"{FAMILY}:{digest}")))
        out.append(reply)
    return out


async def _keep(context: Context, text: str) -> str:
    user_id = context.identity.id
    digest = context.services.hasher.digest(f"listen|{user_id}|{text}")[:32]
    row = await context.session.get(SpokenText, digest)
    if row is None:
        sealed = context.services.cipher.encrypt(text, _context(digest, user_id))
        context.session.add(SpokenText(digest=digest, user_id=user_id, lang=context.lang, text_enc=sealed))
    else:
        row.created_at = utcnow()
    return digest


async def listen(context: Context) -> list[Reply]:
    """`listen:<digest>`: the data is the digest of the text, not an action (and has no `:` in it).

    The turn only finds the text; the voice is made once it has committed, outside the writer lock
    (speech takes seconds, a cached clip still a disk read), and kept in a short transaction of its own
    that answers with it (`Context.after_commit`)."""
    press = context.pressed
    digest = press.action if not press.arg else ""
    row = await context.session.get(SpokenText, digest) if 0 < len(digest) <= 32 else None
    if row is None or row.user_id != context.identity.id:
        return [Reply(context.t("announce.listen.gone"))]
    text = context.services.cipher.decrypt(row.text_enc, _context(digest, row.user_id))
    speech = context.services.speech
    if speech is None:
        return [Reply(context.t("announce.listen.unavailable"))]
    context.after_commit(functools.partial(_speak, speech, text, row.lang))
    return []


async def _speak(speech: Speech, text: str, lang: str) -> FlowHandler:
    """After the press's commit, no lock held: the synthesis; then what answers with it."""
    try:
        spoken = await speech.speak(text, lang)
    except TTSUnavailable:
        return _unavailable
    return functools.partial(_heard, spoken)


async def _unavailable(context: Context) -> list[Reply]:
    return [Reply(context.t("announce.listen.unavailable"))]


async def _heard(spoken: Spoken, context: Context) -> list[Reply]:
    """The clip kept for its user and sent, in the short transaction after the synthesis."""
    telegram = context.incoming.channel == "telegram"
    media_id = await store_media(context.session, spoken.ogg if telegram else spoken.mp3,
                                 OGG_TYPE if telegram else MP3_TYPE, owner_id=context.identity.id)
    # Old texts go as new ones come: a week is long enough to press the button.
    await context.session.execute(delete(SpokenText).where(SpokenText.created_at < utcnow() - KEEP))
    return [Reply(context.t("announce.listen.here"), audio_url=media_url(
        context.services.hasher, context.services.settings.public_url, media_id))]
