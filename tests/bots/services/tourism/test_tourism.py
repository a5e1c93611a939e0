"""Visitors through the real web chat API, in Vietnamese typed without diacritics and in English: the
themes, a theme named in the question, a place's card with its map and guide-page links, its story with
«🔊 Nghe», itineraries, homestays, places near a shared location (only when asked: otherwise the
location is the health desk's), forged buttons; the audio-guide page a QR poster opens (small, nothing
from outside, both languages, its voice) and `xaso tourism posters`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from pypdf import PdfReader

from backends.tourism.places import TourismError, load_tourism
from core.config import REPO_ROOT, Settings
from core.db import Database
from tests.support.chat import ChatSession, button_data, texts
from tests.support.cli import Xaso, explain
from tests.support.db import schema_differences
from tests.support.roles import staff_joins

LA_BANG = {"location": {"lat": 21.627, "lon": 105.535}}
DINH_HOA = {"location": {"lat": 21.91, "lon": 105.64}}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


def buttons(replies: list[dict]) -> dict[str, dict]:
    return {button["data"]: button for reply in replies for button in reply["buttons"]}


async def test_a_visitor_finds_a_place_reads_and_hears_it(client: TestClient) -> None:
    visitor = await ChatSession.open(client)
    themes = await visitor.say("di choi o dau")
    assert "Đi chơi ở đâu" in texts(themes) and themes[-1]["request_location"] is True
    assert {"tour:theme:tea", "tour:theme:nature", "tour:theme:history", "tour:plans",
            "tour:stays"} <= set(button_data(themes))
    falls = await visitor.say("gan day co thac nuoc nao")  # the theme named in the question
    assert "Suối Kẹm" in texts(falls) and "tour:place:suoi_kem" in button_data(falls), texts(falls)
    card = await visitor.say("suoi kem")  # typed, the button's label
    text = texts(card)
    assert "Suối Kẹm" in text and "Xóm Tân Sơn" in text and "bốn điểm tắm" in text, text
    links = buttons(card)
    assert links["tour:map:suoi_kem"]["url"].startswith("https://www.openstreetmap.org/search?query=")
    assert links["tour:page:suoi_kem"]["url"] == "http://127.0.0.1:8080/places/suoi_kem?lang=vi"
    story = await visitor.press("tour:story:suoi_kem")
    assert "Vực Thẳm" in texts(story) and any(d.startswith("listen:") for d in button_data(story))
    plan = await visitor.say("goi y lich trinh 2 ngay")
    assert "Hai ngày" in texts(plan) or "tour:plan:la_bang_atk" in button_data(plan), texts(plan)
    days = await visitor.press("tour:plan:la_bang_atk")
    assert "Ngày 2" in texts(days) and "08:30 · Đồi Khau Tý" in texts(days), texts(days)
    stays = await visitor.say("co homestay nao khong")
    assert "Tân Sơn" in texts(stays), texts(stays)


async def test_local_guides_are_listed_with_a_call_button(client: TestClient) -> None:
    villager = await ChatSession.open(client)
    assert "tour:guides" in button_data(await villager.say("di choi o dau"))
    listed = await villager.say("co huong dan vien khong")
    assert "Hướng dẫn viên mẫu — ATK Định Hóa" in texts(listed), texts(listed)
    assert "tour:guide:mau_hdv_atk" in button_data(listed)
    card = await villager.press("tour:guide:mau_hdv_atk")
    assert "tiếng Việt, tiếng Anh" in texts(card) and "700.000 đ/ngày" in texts(card), texts(card)
    assert buttons(card)["call:0900000004"]["url"] == "tel:0900000004"
    assert "Hướng dẫn viên địa phương" in texts(await villager.press("tour:guide:nobody"))  # an old button
    visitor = await ChatSession.open(client, language="en")
    english = await visitor.say("we need an english speaking guide")
    assert "Local guides" in texts(english) and "Sample guide — ATK" in texts(english), texts(english)


async def test_an_english_visitor_and_places_near_a_shared_location(client: TestClient) -> None:
    visitor = await ChatSession.open(client, language="en")
    themes = await visitor.say("what to see around here")
    assert "What would you like to see" in texts(themes), texts(themes)
    near = (await visitor.send(DINH_HOA))["replies"]
    assert "Nearest to you" in texts(near) and "Tỉn Keo" in texts(near) and "Kẹm" not in texts(near), near
    card = await visitor.press("tour:place:tin_keo")
    assert "6 December 1953" in texts(card) and "Phú Đình commune" in texts(card)
    assert buttons(card)["tour:page:tin_keo"]["url"].endswith("/places/tin_keo?lang=en")
    # A location nobody asked for is the health desk's, as before.
    villager = await ChatSession.open(client)
    located = (await villager.send(LA_BANG))["replies"]
    assert "Gần bạn nhất" not in texts(located)


async def test_the_dashboard_counts_what_visitors_looked_at(client: TestClient) -> None:
    from tests.support.dashboard import logged_in_staff

    visitor = await ChatSession.open(client)
    await visitor.say("di choi o dau")
    for _ in range(2):
        await visitor.press("tour:place:khau_ty")
    await visitor.press("tour:story:khau_ty")
    await visitor.press("tour:place:suoi_kem")
    assert (await client.get("/places/khau_ty")).status == 200  # a poster's QR
    await logged_in_staff(client)
    section = (await (await client.get("/api/stats")).json())["sections"]["tourism"]
    assert section["figures"]["questions_today"] == 1 and section["figures"]["places_today"] == 3
    assert section["figures"]["stories_week"] == 1 and section["figures"]["pages_week"] == 1
    assert section["items"] == ["khau_ty", "suoi_kem"] and section["chart"] == {"khau_ty": 4, "suoi_kem": 1}
    page = await (await client.get("/dashboard")).text()
    assert "Du lịch" in page and "Đồi Khau Tý – ATK Định Hóa" in page and "dashboard.figure" not in page
    official = await staff_joins(client)
    stats = texts(await official.say("/stats"))
    assert "Du lịch: 1 câu hỏi, 3 lượt xem địa điểm, 1 lượt mở trang thuyết minh" in stats, stats


async def test_a_visitor_writing_english_gets_english(client: TestClient) -> None:
    visitor = await ChatSession.open(client)  # the web chat opened in Vietnamese
    themes = await visitor.say("what is there to see around here")
    assert "answer in English" in texts(themes) and "What would you like to see" in texts(themes), themes
    card = await visitor.press("tour:place:suoi_kem")
    assert "Kẹm Stream" in texts(card) and "bathing spots" in texts(card)
    villager = await ChatSession.open(client)  # Vietnamese without accents (and «homestay») stays Vietnamese
    stays = texts(await villager.say("co homestay nao khong"))
    assert "🏡 Homestay:" in stays and "Nhà sàn mẫu" in stays and "English" not in stays, stays


async def test_forged_tour_buttons_get_the_themes(client: TestClient) -> None:
    visitor = await ChatSession.open(client)
    for forged in ("tour:place:atlantis", "tour:story:../x", "tour:theme:casino", "tour:plan:moon",
                   "tour:whatever", "tour:map:", "tour:page:nowhere"):
        replies = await visitor.press(forged)
        assert "tour:theme:tea" in button_data(replies), (forged, replies)


async def test_the_guide_page_is_small_local_and_in_both_languages(client: TestClient) -> None:
    page = await client.get("/places/khau_ty?lang=vi")
    html = await page.text()
    assert page.status == 200 and "Đồi Khau Tý" in html and "Cảnh khuya" in html
    assert len(html.encode()) < 12_000  # a slow connection
    assert not re.search(r'(src|href)="https?://', html.replace('href="https://www.openstreetmap.org', ""))
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    english = await (await client.get("/places/khau_ty", headers={"Accept-Language": "en-GB,en"})).text()
    assert "Khau Tý hill" in english and "Late night" in english
    voice = await client.get("/places/khau_ty/audio?lang=vi")
    assert voice.status == 200 and voice.content_type == "audio/mpeg" and len(await voice.read()) > 1000
    assert (await client.get("/places/nowhere")).status == 404
    assert (await client.get("/places/nowhere/audio")).status == 404


def test_posters_are_written_one_per_place_with_the_page_address(tmp_path: Path) -> None:
    xaso = Xaso.make(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", tmp_path / "var")
    xaso.env.update(XASO_PUBLIC_URL="https://xaso.labang.example")
    made = xaso("tourism", "posters", "--out", str(tmp_path / "posters"))
    assert made.returncode == 0, explain(made)
    written = sorted((tmp_path / "posters").glob("*.pdf"))
    assert len(written) == len(load_tourism(REPO_ROOT / "data" / "tourism").places) == 8
    text = PdfReader(str(tmp_path / "posters" / "tin_keo.pdf")).pages[0].extract_text()
    assert "Đồi Tỉn Keo" in text and "https://xaso.labang.example/places/tin_keo" in text


@pytest.mark.parametrize(("file", "change", "message"), [
    ("itineraries.yml", ("place: khau_ty", "place: atlantis"), "place 'atlantis' is not in places.yml"),
    ("places.yml", ("lat: 21.90", "lat: 51.5"), "coordinates in Vietnam"),
    ("places.yml", ("themes: [nature]", "themes: [casino]"), "themes: a list among"),
    ("itineraries.yml", ('time: "08:30"', 'time: "8h30"'), "HH:MM"),
])
def test_a_broken_tourism_file_is_refused_naming_file_and_line(tmp_path: Path, file: str,
                                                               change: tuple[str, str], message: str) -> None:
    for name in ("places.yml", "itineraries.yml"):
        text = (REPO_ROOT / "data" / "tourism" / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(*change, 1) if name == file else text, encoding="utf-8")
    with pytest.raises(TourismError) as refused:
        load_tourism(tmp_path)
    assert str(refused.value).startswith(f"{tmp_path / file}:") and message in str(refused.value)



async def test_the_migration_gives_the_view_counts_the_table_the_model_describes(database: Database) -> None:
    assert await schema_differences(database, "tourism_") == []
