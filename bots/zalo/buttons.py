"""Buttons on Zalo come back as text: an OA `oa.query.show` button makes the user "say" its payload, and
the Bot API has no buttons at all (they are shown as a numbered list). So every button sent is recorded
for its chat before it leaves, and a text from that chat equal to one of them is routed as that press.

Forgery: only buttons this very chat was sent count, newest first, for `LIFETIME`; anything else stays
text. Typing a button's label is then the same as tapping it, which the user could do anyway; what the
button does is still checked against the user's roles by the pipeline (`core.roles.AccessRules`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bots.zalo.models import ZaloButton
from core.messages import Button
from core.models import utcnow

LIFETIME = timedelta(days=7)  # Zalo refuses customer-service messages after 7 days without contact
MAX_PAYLOAD_CHARS = 200
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACES.sub(" ", text).strip().casefold()[:MAX_PAYLOAD_CHARS]


def payloads(buttons: Sequence[Button]) -> list[str]:
    """What each button sends back: its label, made unique within the message."""
    seen: dict[str, int] = {}
    found: list[str] = []
    for button in buttons:
        label = _SPACES.sub(" ", button.label).strip()[:MAX_PAYLOAD_CHARS - 6] or "…"
        count = seen.get(normalise(label), 0) + 1
        seen[normalise(label)] = count
        found.append(label if count == 1 else f"{label} ({count})")
    return found


async def remember(session: AsyncSession, channel: str, chat_id: str, buttons: Sequence[Button],
                   *, numbered: bool = False) -> list[str]:
    """Records the buttons of one message (in the caller's transaction) and returns their payloads.
    With `numbered`, "1", "2", … also stand for them, replacing the numbers of any earlier message."""
    labels = payloads(buttons)
    await session.execute(delete(ZaloButton).where(ZaloButton.channel == channel,
                                                   ZaloButton.chat_id == chat_id,
                                                   ZaloButton.created_at < utcnow() - LIFETIME))
    if numbered:
        await session.execute(delete(ZaloButton).where(
            ZaloButton.channel == channel, ZaloButton.chat_id == chat_id,
            ZaloButton.payload.in_([str(n) for n in range(1, 100)])))
    for number, (label, button) in enumerate(zip(labels, buttons, strict=True), start=1):
        session.add(ZaloButton(channel=channel, chat_id=chat_id, payload=normalise(label), data=button.data))
        if numbered:
            session.add(ZaloButton(channel=channel, chat_id=chat_id, payload=str(number), data=button.data))
    await session.flush()
    return labels


async def resolve(session: AsyncSession, channel: str, chat_id: str, text: str | None) -> str | None:
    """The data of the button this chat was sent whose payload is `text`, or None."""
    if not text or len(text) > MAX_PAYLOAD_CHARS * 2:
        return None
    query = (select(ZaloButton.data)
             .where(ZaloButton.channel == channel, ZaloButton.chat_id == chat_id,
                    ZaloButton.payload == normalise(text), ZaloButton.created_at >= utcnow() - LIFETIME)
             .order_by(ZaloButton.id.desc()).limit(1))
    return (await session.execute(query)).scalar_one_or_none()
