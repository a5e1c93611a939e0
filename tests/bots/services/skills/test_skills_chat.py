"""Digital skills through the real web chat API: the scam course end to end typed without diacritics
and tapped, a wrong answer explained and retried, the certificate signed and confirmed by /verify, the
place kept across sessions, forged and old buttons refused, a tutor's hamlet list and a course sent,
the dashboard's figures, a blocked link offering the scam course, /mydata and erasure."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select, update

from backends.skills.store import SkillAnswer, SkillProgress
from core.config import Settings
from core.db import Database
from core.signing import SignedDocumentRow
from tests.support.chat import ChatSession, button_data, pushed_now, texts
from tests.support.roles import staff_joins
from tests.support.skills import CERTIFICATE_CODE, certified, course, pressed, take_lesson, tutor_joins


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


async def progress(database: Database, course_id: str) -> list[SkillProgress]:
    async with database.session() as session:
        return list(await session.scalars(select(SkillProgress).where(SkillProgress.course == course_id)))


async def start_scams(chat: ChatSession, hamlet: str = "kem") -> list[dict]:
    """«hoc ky nang so», the scam course by name, the hamlet typed: its first step."""
    listed = await chat.say("hoc ky nang so")
    assert "learn:course:scams" in button_data(listed), texts(listed)
    assert "không đúng" not in texts(listed)  # «ky nang so» is no progress code
    assert "Nhận biết lừa đảo" in texts(listed) and "chưa học" in texts(listed)
    asked = await chat.say("lua dao")
    assert "xóm nào" in texts(asked), texts(asked)
    return await chat.say(hamlet)


async def test_the_scam_course_typed_end_to_end_gives_a_certificate_verify_confirms(
        client: TestClient, database: Database) -> None:
    villager = await ChatSession.open(client)
    first = await start_scams(villager)
    assert "Kẻ giả danh cán bộ" in texts(first) and "Bước 1/3" in texts(first)
    # «🔊 Nghe» under every step, short ones too.
    assert any(b["data"].startswith("listen:") for r in first for b in r["buttons"])
    scams = course("scams")
    # Lesson 1, with a wrong answer first: explained, then asked again.
    current = first
    for _ in scams.lessons[0].steps:
        current = await villager.say("tiep")
    assert scams.lessons[0].quiz[0].text["vi"] in texts(current)
    wrong = await villager.say("b")
    assert "❌" in texts(wrong) and "Chưa đúng" in texts(wrong)
    assert scams.lessons[0].quiz[0].text["vi"] in texts(wrong)  # the same question again
    right = await villager.say("khong doc cup may bao cong an xa")
    assert "✅" in texts(right) and "học xong bài" in texts(right), texts(right)
    # Lesson 2 after «hoc bai tiep», lesson 3 the same way.
    current = await villager.say("hoc bai tiep")
    assert "Bài 2/3" in texts(current), texts(current)
    current = await take_lesson(villager, "scams", 1, replies=current)
    current = await take_lesson(villager, "scams", 2, replies=await villager.say("tiep tuc"))
    assert "Chúc mừng" in texts(current) and "họ tên" in texts(current), texts(current)
    # A name that is no name, then the real one.
    assert "chỉ gồm chữ" in texts(await villager.say("12345"))
    confirm = await villager.say("Nguyễn Thị Hoa")
    assert "In tên «Nguyễn Thị Hoa»" in texts(confirm), texts(confirm)
    assert "«Hoa Nguyen»" in texts(await villager.say("Hoa Nguyen"))  # another name replaces it
    asked = await villager.say("sua ten")
    assert "họ tên" in texts(asked), texts(asked)
    assert "In tên «Nguyễn Thị Hoa»" in texts(await villager.say("Nguyễn Thị Hoa"))
    issued = await villager.say("dung")
    found = CERTIFICATE_CODE.search(texts(issued))
    assert found, texts(issued)
    code = found.group(1)
    assert f"/verify/{code}" in texts(issued)
    page = await client.get(f"/verify/{code}")
    html = await page.text()
    assert page.status == 200 and "Văn bản hợp lệ" in html
    assert "Nguyễn Thị Hoa" in html and "Nhận biết lừa đảo trên mạng" in html and "Khóa học / Course" in html
    checked = await (await client.get(f"/verify/{code}.json")).json()
    assert checked["valid"] is True and checked["kind"] == "skills_certificate"
    assert checked["document"]["learner"] == "Nguyễn Thị Hoa"
    # The signed PDF follows (made after the turn's commit, outside the writer lock).
    pdf_replies = [r for r in [*issued, *await pushed_now(client, villager)] if r.get("document_url")]
    assert pdf_replies, issued
    document = await client.get(pdf_replies[0]["document_url"].removeprefix("http://127.0.0.1:8080"))
    assert document.status == 200 and (await document.read()).startswith(b"%PDF")
    [row] = await progress(database, "scams")
    assert row.finished_at is not None and row.lessons_done == 3 and row.certificate == code
    # The list says so; the course offers the certificate again.
    listed = await villager.say("/hoc")
    assert "✅ đã hoàn thành" in texts(listed)
    again = await villager.press("learn:course:scams")
    shown = await villager.press(pressed(again, "learn:cert:"))
    assert code in texts(shown) and shown[0]["document_url"]


async def test_the_course_tapped_and_resumed_in_a_later_session(client: TestClient,
                                                                database: Database) -> None:
    villager = await ChatSession.open(client)
    listed = await villager.press("menu:learn_skills")
    assert "learn:course:vietqr" in button_data(listed)
    asked = await villager.press("learn:course:vietqr")
    first = await villager.press(pressed(asked, "learn:hamlet:vietqr:la_cut"))
    assert first[0]["image_url"].endswith("/lessons/img/vietqr_check.png")
    picture = await client.get("/lessons/img/vietqr_check.png")
    assert picture.status == 200 and picture.content_type == "image/png"
    assert (await client.get("/lessons/img/../../README.md")).status == 404
    done = await take_lesson(villager, "vietqr", 0, typed=False, replies=first)
    assert "1/3" in texts(done)
    later = await villager.press(pressed(done, "learn:stop"))
    assert "học tiếp" in texts(later)
    # Days later: the list shows how far, the course opens at lesson 2, step 1; the hamlet is not asked.
    listed = await villager.say("toi muon hoc tiep")
    assert "đã học 1/3 bài" in texts(listed), texts(listed)
    resumed = await villager.press("learn:course:vietqr")
    assert "Bài 2/3" in texts(resumed) and "Bước 1/3" in texts(resumed)
    [row] = await progress(database, "vietqr")
    assert (row.lesson, row.step, row.lessons_done) == (1, 0, 1)


async def test_forged_old_and_foreign_buttons_are_refused_and_nothing_moves(
        client: TestClient, database: Database) -> None:
    villager = await ChatSession.open(client)
    first = await start_scams(villager, "khong muon noi")
    step = pressed(first, "learn:next:scams:0:0")
    assert "Bước 2/3" in texts(await villager.press(step))
    # The same button again (a double tap, a second device): it moved once.
    again = await villager.press(step)
    assert "không còn dùng được" in texts(again) and "Bước 2/3" in texts(again)
    for forged in ("learn:next:scams:0:7", "learn:next:scams:9:0", "learn:next:scams:x:y",
                   "learn:ans:scams:0:0:0",  # a question not reached yet
                   "learn:ans:scams:1:0:0",  # a question of another lesson
                   "learn:ans:scams:0:5:0", "learn:ans:scams:0:0:9", "learn:ans:vietqr:0:0:0",
                   "learn:next:nosuch:0:0", "learn:course:nosuch", "learn:hamlet:scams:atlantis",
                   "learn:whatever", "learn:cert:scams", "learn:name:scams"):
        replies = await villager.press(forged)
        assert replies and "Traceback" not in texts(replies), forged
    [row] = await progress(database, "scams")
    assert (row.lesson, row.step) == (0, 1)
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(SkillAnswer)) == 0


async def test_everyday_words_in_a_lesson_are_no_emergency_and_stop_keeps_the_place(
        client: TestClient, database: Database) -> None:
    villager = await ChatSession.open(client)
    await start_scams(villager)
    answered = await villager.say("thủ tục đăng ký khai sinh cần gì")  # another question meanwhile
    assert "Giấy chứng sinh" in texts(answered) and "115" not in texts(answered)
    back = await villager.say("tiep")  # the lesson again, where it was left
    assert "Kẻ giả danh cán bộ" in texts(back) and "Bước 1/3" in texts(back), texts(back)
    stopped = await villager.say("huy")
    assert "học tiếp" in texts(stopped)
    [row] = await progress(database, "scams")
    assert (row.lesson, row.step) == (0, 0)


async def test_a_tutor_sees_the_hamlet_progress_and_sends_a_course(client: TestClient) -> None:
    villager = await ChatSession.open(client)
    current = await start_scams(villager, "kem")
    await take_lesson(villager, "scams", 0, replies=current)
    elsewhere = await ChatSession.open(client)
    await start_scams(elsewhere, "la cut")
    assert "quyền" in texts(await villager.say("/learners")).lower()  # villagers have no such desk
    tutor = await tutor_joins(client)
    asked = await tutor.say("/learners")
    assert "xóm nào" in texts(asked), texts(asked)
    listed = await tutor.press(pressed(asked, "tutor:hamlet:kem"))
    text = texts(listed)
    assert "(1 người)" in text and "Nhận biết lừa đảo trên mạng 1/3 bài" in text, text
    assert "❌" not in text and "Chưa đúng" not in text  # progress only, never an answer
    # Remembered: /learners again goes straight to Kèm.
    assert "(1 người)" in texts(await tutor.say("/learners"))
    pick = await tutor.press(pressed(listed, "tutor:send:"))
    sent = await tutor.press(next(d for d in button_data(pick) if d.endswith(":vietqr")))
    assert "Đã gửi" in texts(sent)
    notices = await pushed_now(client, villager)
    notice = [n for n in notices if "gửi bạn khóa học" in n["text"]]
    assert notice and notice[0]["buttons"][0]["data"] == "learn:course:vietqr"
    opened = await villager.say("bat dau hoc")  # typed, the notice's button
    assert "Chuyển khoản VietQR an toàn" in texts(opened) and "Bước 1/3" in texts(opened), texts(opened)
    # A forged learner id: not found.
    assert "không tìm thấy" in texts(await tutor.press("tutor:send:999999")).lower()
    assert "không tìm thấy" in texts(await tutor.press("tutor:course:999999:scams")).lower()


async def test_a_blocked_link_offers_the_scam_course(client: TestClient) -> None:
    villager = await ChatSession.open(client)
    refused = await villager.say("ngân hàng báo khóa tài khoản, vào http://vietcombank-xacminh.tk/mo-khoa")
    assert "learn:course:scams" in button_data(refused), refused
    opened = await villager.press("learn:course:scams")
    assert "xóm nào" in texts(opened)


async def test_the_dashboard_counts_courses_and_pass_rates(client: TestClient) -> None:
    from tests.support.dashboard import logged_in_staff

    for _ in range(3):
        villager = await ChatSession.open(client)
        await start_scams(villager)
        for _ in course("scams").lessons[0].steps:
            await villager.say("tiep")
        await villager.say("c")  # wrong first: the question's first-try pass rate falls
        await villager.say("a")
    _, _csrf = await logged_in_staff(client)
    data = await (await client.get("/api/stats")).json()
    skills = data["sections"]["skills"]
    assert skills["figures"]["learners"] == 3 and skills["figures"]["started"] == 3
    assert skills["figures"]["hard_questions"] == 1 and "hard_questions" in skills["alerts"]
    assert skills["items"] == ["scams/fake_officials/1"]
    assert skills["chart"]["kem"] == 3
    page = await (await client.get("/dashboard")).text()
    assert "Kỹ năng số" in page and "Kẻ giả danh cán bộ · câu 1" in page and "0% đúng lần đầu" in page
    assert "Xóm Kèm" in page and "dashboard.figure" not in page
    official = await staff_joins(client)
    assert "Kỹ năng số: 3 người học hôm nay, 0 khóa hoàn thành" in texts(await official.say("/stats"))


async def test_mydata_exports_progress_and_erasure_withdraws_the_certificate(
        client: TestClient, database: Database) -> None:
    villager = await ChatSession.open(client)
    code = await certified(villager, await start_scams(villager), "Tran Van Ba")
    card = await villager.say("/mydata")
    assert "Kỹ năng số: đã bắt đầu 1 khóa, hoàn thành 1 khóa" in texts(card), texts(card)
    warned = await villager.press("mydata:delete")
    await villager.press(pressed(warned, "mydata:delete-confirm"))
    assert (await client.get(f"/verify/{code}")).status == 404
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(SkillProgress)) == 0
        assert await session.scalar(select(func.count()).select_from(SignedDocumentRow)) == 0


async def test_a_finished_course_taken_again_stays_finished_with_its_one_certificate(
        client: TestClient, database: Database) -> None:
    villager = await ChatSession.open(client)
    code = await certified(villager, await start_scams(villager), "Lo Van Pao")
    again = await villager.press(pressed(await villager.press("learn:course:scams"), "learn:again:"))
    assert "Bài 1/3" in texts(again) and "Bước 1/3" in texts(again)
    for lesson in range(3):
        again = await take_lesson(villager, "scams", lesson, replies=again, typed=False)
        if lesson < 2:
            again = await villager.press(pressed(again, "learn:course:"))
    assert "Bạn đã hoàn thành khóa" in texts(again) and "learn:cert:scams" in button_data(again), texts(again)
    [row] = await progress(database, "scams")
    assert row.certificate == code and row.lessons_done == 3
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(SignedDocumentRow)) == 1


async def test_a_place_the_course_file_no_longer_has_shows_the_nearest_one(client: TestClient,
                                                                          database: Database) -> None:
    villager = await ChatSession.open(client)
    await start_scams(villager)
    async with database.session() as session:  # the file lost a lesson, then steps, since
        await session.execute(update(SkillProgress).values(lesson=7, step=0))
    shown = await villager.press("learn:course:scams")
    assert "Bài 3/3" in texts(shown) and "Bước 1/3" in texts(shown), texts(shown)
    async with database.session() as session:
        await session.execute(update(SkillProgress).values(lesson=0, step=40))
    shown = await villager.press("learn:course:scams")
    assert course("scams").lessons[0].quiz[0].text["vi"] in texts(shown), texts(shown)
