"""Emergency first: every red-flag phrase gets the 115 reply first, through the whole pipeline, and the
doctors and staff on call are alerted through the outbox without the message text in clear."""

from __future__ import annotations

from typing import Any

import yaml
from sqlalchemy import select

from bots.assistant import Assistant
from bots.services.health.desk import category_of
from core.config import REPO_ROOT
from core.identity import grant_role, resolve_user
from core.messages import Incoming
from core.models import OutboxMessage
from nlu.normalize import strip_diacritics

PHRASES = yaml.safe_load((REPO_ROOT / "data" / "emergency_phrases.yml").read_text(encoding="utf-8"))



def opened(assistant: Assistant, row: Any) -> dict[str, Any]:
    """An outbox row's message (rows are sealed at rest)."""
    return assistant.services.outbox.reply_of(row.payload, row.key).to_json()

async def on_call(assistant: Assistant, external_id: str, role: str) -> int:
    async with assistant.database.session() as session:
        identity = await resolve_user(session, "console", external_id, "vi")
        await grant_role(session, identity.id, role, granted_by="test")
        return identity.id


async def alerts_for(assistant: Assistant, user_id: int) -> list[OutboxMessage]:
    async with assistant.database.session() as session:
        query = select(OutboxMessage).where(
            OutboxMessage.user_id == user_id, OutboxMessage.key.startswith("emergency:")
        )
        return list((await session.execute(query.order_by(OutboxMessage.id))).scalars())


async def test_every_phrase_gets_115_first_and_alerts(assistant: Assistant) -> None:
    doctor = await on_call(assistant, "doctor-1", "doctor")
    official = await on_call(assistant, "staff-1", "staff")
    cases = [
        (phrase, variant)
        for phrase in PHRASES["phrases"]
        for variant in (phrase, strip_diacritics(phrase), f"Cứu với, {phrase} rồi!")
    ]
    # Exact phrases match only with their marks on purpose ("tự tử" bare is "từ từ", slowly).
    cases += [(phrase, phrase) for phrase in PHRASES.get("exact_phrases") or ()]
    missed = []
    for number, (phrase, text) in enumerate(cases):
        outcome = await assistant.handle(
            Incoming(
                channel="console",
                chat_id=f"v{number}",
                user_id=f"v{number}",
                message_id=f"m{number}",
                text=text,
            )
        )
        first = outcome.replies[0].text if outcome.replies else ""
        if "115" not in first or "KHẨN CẤP" not in first:
            missed.append((phrase, text))
    assert not missed, missed

    doctor_alerts = await alerts_for(assistant, doctor)
    staff_alerts = await alerts_for(assistant, official)
    assert len(doctor_alerts) == len(cases) == len(staff_alerts)
    first = opened(assistant, doctor_alerts[0])
    assert "BN#" in first["text"] and "console" in first["text"] and "115" in first["text"]
    assert first["buttons"][0]["data"].startswith("doctor:alert:")
    assert not opened(assistant, staff_alerts[0])["buttons"]  # staff hear of it; the text is for the doctor
    for row in doctor_alerts:  # the message itself is never in the outbox in clear
        assert "Cứu với" not in opened(assistant, row)["text"]


async def test_a_repeat_does_not_realert_and_the_doctor_reads_the_text(assistant: Assistant) -> None:
    doctor = await on_call(assistant, "doctor-2", "doctor")
    for message_id in ("a", "b"):
        outcome = await assistant.handle(
            Incoming(
                channel="console",
                chat_id="p",
                user_id="p",
                message_id=message_id,
                text="bé nhà tôi co giật, sùi bọt mép",
            )
        )
        assert "115" in outcome.replies[0].text
    alerts = await alerts_for(assistant, doctor)
    # The category, not the message.
    assert len(alerts) == 1 and "co giật" in opened(assistant, alerts[0])["text"]
    assert "sùi bọt mép" not in opened(assistant, alerts[0])["text"]
    button = opened(assistant, alerts[0])["buttons"][0]["data"]
    read = await assistant.handle(
        Incoming(channel="console", chat_id="doctor-2", user_id="doctor-2", message_id="r", button=button)
    )
    assert "sùi bọt mép" in read.replies[0].text
    citizen = await assistant.handle(
        Incoming(channel="console", chat_id="p", user_id="p", message_id="c", button=button)
    )
    assert "sùi bọt mép" not in citizen.replies[0].text


def test_categories() -> None:
    assert category_of("đau ngực dữ dội") == "chest"
    assert category_of("khong tho duoc") == "breathing"
    assert category_of("bị rắn cắn") == "bite"
    assert category_of("chảy máu nhiều khi mang thai") == "pregnancy"
    assert category_of("???") == "other"
