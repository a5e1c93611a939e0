"""Stored files as the server hands them out: `GET /media/{id}` (uploads, signed result PDFs, /mydata
exports, audio) and the product photos. The type is the one verified, never the client's; everything is
`attachment` but re-encoded images; `nosniff` and a sandbox CSP on all. And a villager whose PDF carries
active content is told so politely, in the flow that asked for it."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from sqlalchemy import select

from bots.pages.shop_web import ProductPhotos
from bots.server import ASSISTANT
from core.config import Settings
from core.db import Database
from core.media import media_url, store_media
from core.models import Media
from core.uploads import CleanUpload, check_upload
from tests.core.test_uploads import ZIP_WITH_HTML, gps_exif, plain_pdf
from tests.support.chat import ChatSession, texts

CSP = "sandbox; default-src 'none'"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


def photo_jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "green").save(buffer, "JPEG", exif=gps_exif())
    return buffer.getvalue()


async def stored(client: TestClient, data: bytes, content_type: str, *, viewer: int | None = None) -> str:
    """A file kept the way the server keeps it (sealed when it has a named viewer), and the path and
    query of its signed link."""
    assistant = client.app[ASSISTANT]
    services = assistant.services
    async with assistant.database.session() as session:
        media_id = await store_media(session, data, content_type,
                                     cipher=services.cipher if viewer is not None else None)
        await session.commit()
    link = urlsplit(media_url(services.hasher, services.settings.public_url, media_id, viewer=viewer))
    return f"{link.path}?{link.query}"


def assert_safe(response: Any) -> None:
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == CSP


async def test_a_pdf_is_an_attachment_of_its_verified_type(client: TestClient) -> None:
    clean = check_upload("don.pdf", "text/html", plain_pdf())  # the client's claim decides nothing
    assert isinstance(clean, CleanUpload)
    response = await client.get(await stored(client, clean.data, clean.content_type))
    assert response.status == 200 and response.content_type == "application/pdf"
    assert_safe(response)
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and disposition.endswith('.pdf"')
    assert await response.read() == plain_pdf()


async def test_a_re_encoded_photo_stays_inline(client: TestClient) -> None:
    clean = check_upload("anh.pdf", "application/pdf", photo_jpeg())
    assert isinstance(clean, CleanUpload) and clean.content_type == "image/jpeg"
    response = await client.get(await stored(client, clean.data, clean.content_type))
    assert response.status == 200 and response.content_type == "image/jpeg"
    assert_safe(response)
    assert response.headers["Content-Disposition"].startswith("inline;")
    assert b"Exif" not in await response.read()


async def test_a_sealed_export_is_an_attachment(client: TestClient) -> None:
    path = await stored(client, b'{"user": {"id": 1}}', "application/json", viewer=1)
    response = await client.get(path)
    assert response.status == 200 and response.content_type == "application/json"
    assert_safe(response)
    assert response.headers["Content-Disposition"].startswith("attachment;")


@pytest.mark.parametrize(("data", "content_type"), [
    (b"<html><script>alert(document.domain)</script></html>", "image/png"),  # a type the bytes belie
    (b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "image/svg+xml"),  # not one we serve
    (b"<p>hi</p>", "text/html"),
    (b"menu:help", "application/x-xaso-button"),
])
async def test_anything_else_is_opaque_bytes_to_save(client: TestClient, data: bytes,
                                                      content_type: str) -> None:
    response = await client.get(await stored(client, data, content_type))
    assert response.status == 200 and response.content_type == "application/octet-stream"
    assert_safe(response)
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Content-Disposition"].endswith('.bin"')


async def test_audio_keeps_its_type_and_is_an_attachment(client: TestClient) -> None:
    for data, content_type in ((b"OggS\x00\x02 opus", "audio/ogg"), (b"ID3\x04\x00 mp3", "audio/mpeg")):
        response = await client.get(await stored(client, data, content_type))
        assert response.status == 200 and response.content_type == content_type
        assert_safe(response)
        assert response.headers["Content-Disposition"].startswith("attachment;")


async def test_product_photos_are_re_encoded_and_only_images(tmp_path: Path) -> None:
    folder = tmp_path / "products"
    folder.mkdir()
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "PNG")
    (folder / "tea.png").write_bytes(buffer.getvalue())
    (folder / "fake.png").write_bytes(b"<html><script>alert(1)</script></html>")
    (folder / "gps.jpg").write_bytes(photo_jpeg())
    shop = SimpleNamespace(products={name: SimpleNamespace(photo=name)
                                     for name in ("tea.png", "fake.png", "gps.jpg")})
    app = web.Application()
    app.add_routes(ProductPhotos([(shop, folder)]).routes())  # type: ignore[list-item]
    async with TestClient(TestServer(app)) as client:
        for name, content_type in (("tea.png", "image/png"), ("gps.jpg", "image/jpeg")):
            response = await client.get(f"/shop/photos/{name}")
            assert response.status == 200 and response.content_type == content_type
            assert_safe(response)
            assert response.headers["Content-Disposition"].startswith("inline;")
            assert b"Exif" not in await response.read()
        assert (await client.get("/shop/photos/fake.png")).status == 404
        assert (await client.get("/shop/photos/missing.png")).status == 404


def pdf_attachment(data: bytes) -> dict[str, dict[str, str]]:
    return {"attachment": {"filename": "giay_to.pdf", "content_type": "application/pdf",
                           "data": base64.b64encode(data).decode()}}


async def test_a_villager_is_told_why_a_pdf_is_refused_and_a_plain_one_is_kept(client: TestClient,
                                                                               database: Database) -> None:
    villager = await ChatSession.open(client)
    await villager.say("mất điện cả xóm từ sáng đến giờ")
    await villager.press("report:consent:yes")
    script = b"<< /Type /Action /S /JavaScript /JS (app.alert(1)) >>"
    for hostile in (b"<html><script>alert(1)</script>\n" + plain_pdf(),
                    plain_pdf(script),
                    plain_pdf() + ZIP_WITH_HTML + b"\n%%EOF\n"):
        refused = texts((await villager.send(pdf_attachment(hostile)))["replies"])
        assert "PDF này có chứa mã lệnh hoặc tệp đính kèm" in refused
    async with database.session() as session:
        assert (await session.execute(select(Media))).first() is None  # nothing of them was kept
    kept = (await villager.send(pdf_attachment(plain_pdf())))["replies"]
    assert kept[0]["request_location"] is True  # the report goes on to the place
    async with database.session() as session:
        (media,) = (await session.execute(select(Media))).scalars()
    assert media.content_type == "application/pdf" and media.data == plain_pdf()


async def test_the_refusal_is_in_english_for_english_speakers(client: TestClient) -> None:
    villager = await ChatSession.open(client)
    await villager.say("/lang en")
    await villager.say("power cut in the whole hamlet")
    await villager.press("report:consent:yes")
    launching = plain_pdf(b"<< /S /Launch /F (cmd.exe) >>")
    refused = texts((await villager.send(pdf_attachment(launching)))["replies"])
    assert "this PDF contains scripts or attached files" in refused
