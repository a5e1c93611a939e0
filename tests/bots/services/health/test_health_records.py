"""Health photos sealed at rest and opened only through a doctor's own link (each opening audited);
/mydata exports the person's consults and appointments opened for them, and deletion erases them."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from backends.health.appointments import Appointment
from backends.health.consults import Consult, ConsultMessage
from bots.server import ASSISTANT
from core.config import Settings
from core.db import Database
from core.models import Media, OutboxMessage
from tests.support.audit import audit_rows
from tests.support.chat import ChatSession, jpeg, pushed_now, texts
from tests.support.health import MONDAY_MORNING, REMOTE_TUESDAY, SYMPTOMS, ask_about_child, set_clock
from tests.support.roles import doctor_joins

JPEG_MAGIC = b"\xff\xd8\xff"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


def link_in(text: str) -> str:
    return next(word for word in text.split() if "/media/" in word)


async def test_a_consult_photo_is_sealed_and_each_opening_audited(client: TestClient,
                                                                   database: Database) -> None:
    doctor = await doctor_joins(client)
    parent = await ChatSession.open(client)
    await parent.say("con tôi bị phát ban")
    await parent.press("health:consent:yes")
    await parent.press("form:choice:child")
    for answer in ("2", "Phát ban đỏ khắp người", "từ sáng nay"):
        await parent.say(answer)
    assert "form:confirm" in str(await parent.send(jpeg((10, 200, 10))))  # the form's photo field
    await parent.press("form:confirm")
    assert "Đã chuyển" in texts((await parent.send(jpeg((200, 10, 10))))["replies"])  # and a later one
    async with database.session() as session:
        photos = list((await session.execute(select(Media))).scalars())
    assert len(photos) == 2
    for photo in photos:
        assert photo.sealed and JPEG_MAGIC not in photo.data[:64]

    await pushed_now(client, doctor)
    view = texts(await doctor.press("doctor:open:1"))
    assert view.count("/media/") == 2
    link = urlsplit(link_in(view))
    photo = next(p for p in photos if p.id in link.path)
    opened = await client.get(f"{link.path}?{link.query}")
    assert opened.status == 200 and (await opened.read()).startswith(JPEG_MAGIC)
    (read,) = await audit_rows(database, "media.read")
    assert read.subject == f"media:{photo.id}" and read.actor.startswith("user:")
    # Without the named viewer, or with another one, the sealed file does not open.
    unnamed = "&".join(part for part in link.query.split("&") if not part.startswith("by="))
    assert (await client.get(f"{link.path}?{unnamed}")).status == 404
    forged = link.query.replace("by=", "by=9")
    assert (await client.get(f"{link.path}?{forged}")).status == 404
    assert len(await audit_rows(database, "media.read")) == 1


async def test_mydata_exports_health_records_and_deletion_erases_them(client: TestClient,
                                                                      database: Database) -> None:
    set_clock(client.app[ASSISTANT], [MONDAY_MORNING])
    parent = await ChatSession.open(client)
    await ask_about_child(parent)
    await parent.say("Cháu vẫn còn ho")
    await parent.press(f"appt:pick:{REMOTE_TUESDAY}")
    await parent.say("khám lại cho cháu")
    assert "LH-000001" in texts(await parent.press(f"appt:book:{REMOTE_TUESDAY}"))

    (reply,) = await parent.press("mydata:export")
    url = urlsplit(reply["document_url"])
    response = await client.get(f"{url.path}?{url.query}")
    exported = json.loads(await response.read())
    health = exported["health"]
    assert health["consults"][0]["symptoms"] == SYMPTOMS
    assert [m["text"] for m in health["consults"][0]["messages"]] == ["Cháu vẫn còn ho"]
    (appointment,) = health["appointments"]
    assert appointment["code"] == "LH-000001" and appointment["reason"] == "khám lại cho cháu"
    assert appointment["starts_at"].startswith("2027-03-02T02:00")
    async with database.session() as session:
        query = select(Media).where(Media.content_type == "application/json")
        stored = (await session.execute(query)).scalar_one()
    assert stored.sealed and SYMPTOMS.encode() not in stored.data and b"symptoms" not in stored.data
    assert any(r.subject == f"media:{stored.id}" for r in await audit_rows(database, "media.read"))

    await parent.press("mydata:delete")
    assert "Đã xóa" in texts(await parent.press("mydata:delete-confirm"))
    async with database.session() as session:
        for model in (Consult, ConsultMessage, Appointment, Media):
            count = (await session.execute(select(func.count()).select_from(model))).scalar_one()
            assert count == 0, model.__tablename__
        reminders = select(OutboxMessage).where(OutboxMessage.key.startswith("appointment-reminder:"))
        assert (await session.execute(reminders)).first() is None


def test_sealed_bytes_are_bound_to_their_file() -> None:
    from core.crypto import FieldCipher

    cipher = FieldCipher(b"k" * 32)
    sealed = cipher.encrypt_bytes(b"\xff\xd8\xffphoto", "media:a")
    assert cipher.decrypt_bytes(sealed, "media:a") == b"\xff\xd8\xffphoto"
    try:
        cipher.decrypt_bytes(sealed, "media:b")
    except Exception as error:  # InvalidTag: moved to another id, it does not open
        assert type(error).__name__ == "InvalidTag"
    else:
        raise AssertionError("a sealed file opened under another id")
