"""The readable signed result (a PDF for the citizen, itself signed with PAdES, linked from /verify)
and the satisfaction rating after delivery, through the real web chat API."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pypdf
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from backends.onestop import result_pdf
from backends.onestop.ratings import DossierRating
from bots.signing_cli import verify_file
from core.config import Settings
from core.db import Database
from core.signing import Keyring
from tests.support.audit import audit_rows
from tests.support.chat import ChatSession, button_data, pushed_now, texts
from tests.support.dossiers import MOTHER_ID, submit
from tests.support.roles import staff_joins


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def approved(client: TestClient) -> tuple[ChatSession, ChatSession, str, dict[str, Any]]:
    citizen, code = await submit(client)
    official = await staff_joins(client)
    assert "Đã duyệt" in texts(await official.say(f"/approve {code}"))
    notices = await pushed_now(client, citizen)
    signed = next(n for n in notices if "ký số" in n["text"])
    return citizen, official, code, signed


async def test_the_citizen_gets_a_pdf_of_the_signed_result(client: TestClient, database: Database) -> None:
    _, _, code, signed = await approved(client)
    verification = re.search(r"Mã xác minh: (\w+)", signed["text"]).group(1)
    assert signed["document_url"] and "/media/" in signed["document_url"] and "sig=" in signed["document_url"]

    fetched = await client.get(local_path(signed["document_url"]))
    assert fetched.status == 200 and fetched.content_type == "application/pdf"
    data = await fetched.read()
    assert data.startswith(b"%PDF")
    printed = pdf_text(data)
    assert len(pypdf.PdfReader(io.BytesIO(data)).pages) == 1
    for expected in (verification, code, "ĐĂNG KÝ KHAI SINH", "XÃ LA BẰNG", "Nguyễn Văn Bình", "15/10/2025",
                     "Nam", "Trần Thị Hoa", f"/verify/{verification}"):
        assert expected in printed, expected
    for private in (MOTHER_ID, "0912345678", "Xóm Kèm"):  # not on the paper
        assert private not in printed

    verified = await (await client.get(f"/verify/{verification}.json")).json()
    assert verified["valid"] is True
    assert ["Họ tên trẻ", "Nguyễn Văn Bình"] in verified["document"]["particulars"]
    assert MOTHER_ID not in str(verified["document"])
    page = await (await client.get(f"/verify/{verification}")).text()
    assert "Tải bản PDF" in page and "Nguyễn Văn Bình" in page
    link = re.search(r'<a href="([^"]+)">Tải bản PDF', page).group(1).replace("&amp;", "&")
    again = await client.get(local_path(link))
    assert again.status == 200 and (await again.read()) == data
    assert [e.outcome for e in await audit_rows(database, "dossier.result_pdf")] == ["ok"]


async def test_the_pdf_is_signed_and_says_who_signed_and_what_next(client: TestClient, settings: Settings,
                                                                    tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    _, _, code, signed = await approved(client)
    verification = re.search(r"Mã xác minh: (\w+)", signed["text"]).group(1)
    data = await (await client.get(local_path(signed["document_url"]))).read()
    printed = pdf_text(data)
    for expected in (f"Số: {verification} (mã xác minh)", "TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH", "Hoàng Văn Minh",
                     "Văn bản đã được ký số", "Ký bởi: Xã La Bằng", "Ngày ký:", "Việc cần làm tiếp theo",
                     "giấy tờ tùy thân", "quét mã QR"):
        assert expected in printed, expected
    assert not [r for r in caplog.records if r.name.startswith("fontTools")], "fontTools floods the log"

    keyring = Keyring()
    keyring.load(settings.var_dir / "keys")
    checked = await keyring.verify_pdf(data)
    assert checked.ok, checked.reasons
    assert checked.document_number == verification and checked.signer_name == "Xã La Bằng"
    assert checked.signed_for == "Hoàng Văn Minh, Chủ tịch" and code in (checked.reason or "")

    path = tmp_path / "ket-qua.pdf"
    path.write_bytes(data)
    out = io.StringIO()
    assert await asyncio.to_thread(verify_file, settings, path, None, out) == 0, out.getvalue()
    assert f"document number: {verification}" in out.getvalue()

    page = await (await client.get(f"/verify/{verification}")).text()
    for expected in ("Thủ tục / Procedure", "Đăng ký khai sinh", "Đã được duyệt", "(giờ Việt Nam, UTC+7)"):
        assert expected in page, expected
    assert "approved" not in page and "+00:00" not in page
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", page)


async def test_the_verify_page_has_no_pdf_link_once_it_is_erased(client: TestClient,
                                                                 database: Database) -> None:
    from core.models import Media

    _, _, _, signed = await approved(client)
    verification = re.search(r"Mã xác minh: (\w+)", signed["text"]).group(1)
    async with database.session() as session:
        for item in (await session.execute(select(Media).where(Media.content_type == "application/pdf"))
                     ).scalars():
            await session.delete(item)
        await session.commit()
    page = await (await client.get(f"/verify/{verification}")).text()
    assert "Văn bản hợp lệ" in page and "Tải bản PDF" not in page


async def test_rating_after_delivery(client: TestClient, database: Database) -> None:
    citizen, official, code, _ = await approved(client)
    assert "chưa được trả kết quả" in texts(await citizen.press(f"dossier-rate:{code}:5"))
    await official.press(f"dossier-admin:deliver:{code}")
    notices = await pushed_now(client, citizen, seen=3)
    delivered = notices[-1]
    assert "trả kết quả" in delivered["text"] and "1 ⭐" in delivered["text"]
    rate_buttons = [b for b in delivered["buttons"] if b["data"].startswith("dossier-rate:")]
    assert [b["data"] for b in rate_buttons] == [f"dossier-rate:{code}:{n}" for n in range(1, 6)]
    assert [b["label"] for b in rate_buttons] == ["⭐" * n for n in range(1, 6)]

    stranger = await ChatSession.open(client)
    refused = texts(await stranger.press(f"dossier-rate:{code}:1"))
    assert "chỉ có thể đánh giá hồ sơ của chính mình" in refused and code not in refused
    assert "không có quyền" not in texts(await official.press(f"dossier-rate:{code}:1"))  # not staff's either

    assert "Cảm ơn bạn đã đánh giá" in texts(await citizen.press(f"dossier-rate:{code}:4"))
    again = texts(await citizen.press(f"dossier-rate:{code}:1"))
    assert "đã đánh giá" in again and "⭐⭐⭐⭐" in again and "⭐⭐⭐⭐⭐" not in again
    assert "cũ" in texts(await citizen.press(f"dossier-rate:{code}:9"))  # not a rating: a stale button

    async with database.session() as session:
        ratings = (await session.execute(select(DossierRating))).scalars().all()
    assert [r.rating for r in ratings] == [4]
    assert "Đánh giá của công dân: ⭐⭐⭐⭐ 4/5" in texts(await official.say(f"/dossier {code}"))
    assert "trung bình 4.0/5 từ 1 đánh giá" in texts(await official.say("/dossiers"))
    presses = await audit_rows(database, "dossier.rate")
    assert [(p.outcome, p.detail.get("rating")) for p in presses] == [
        ("refused", None), ("deny", 1), ("deny", 1), ("ok", 4), ("duplicate", 1)]


async def test_forged_rating_of_someone_elses_dossier(client: TestClient) -> None:
    _, code = await submit(client)
    other, _ = await submit(client)
    assert "chính mình" in texts(await other.press(f"dossier-rate:{code}:5"))
    assert "chính mình" in texts(await other.press("dossier-rate:LB-2020-999999:5"))
    assert f"dossier-rate:{code}:1" not in button_data(await other.say("/start"))


async def test_without_a_font_the_signed_result_still_goes_out(client: TestClient, database: Database,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    monkeypatch.setattr(result_pdf, "FONT_DIR", tmp_path)
    _, _, _, signed = await approved(client)
    assert signed["document_url"] is None and "Mã xác minh" in signed["text"]
    assert [e.outcome for e in await audit_rows(database, "dossier.result_pdf")] == ["error"]
