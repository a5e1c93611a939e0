"""The staff side of dossiers through the real web chat API: queue, details, decisions, the citizen's
answer to a request, notifications pushed through the outbox, and what is refused."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from backends.onestop.answers import DossierAnswer
from backends.onestop.store import Dossier, DossierEvent
from backends.onestop.workflow import TRANSITIONS, NoteRequired, TransitionRefused, check
from core.config import Settings
from core.db import Database
from tests.support.audit import audit_rows
from tests.support.chat import ChatSession, button_data, jpeg, pushed_now, texts
from tests.support.dossiers import MOTHER_ID, submit
from tests.support.roles import staff_joins


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A whole dossier takes more messages than the flood limit's burst: this is not a flood test."""
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


def test_the_machine_refuses_impossible_moves() -> None:
    assert check("processing", "approved", None) is None
    assert check("processing", "rejected", "  thiếu giấy ") == "thiếu giấy"
    for current, wanted in (("rejected", "approved"), ("received", "approved"), ("delivered", "processing"),
                            ("approved", "rejected"), ("needs_info", "approved")):
        with pytest.raises(TransitionRefused):
            check(current, wanted, "x")
    with pytest.raises(NoteRequired):
        check("processing", "rejected", "   ")
    assert not TRANSITIONS["rejected"] and not TRANSITIONS["delivered"]


async def test_request_answer_approve_deliver(client: TestClient, database: Database) -> None:
    citizen, code = await submit(client)
    official = await staff_joins(client)

    queue = await official.say("/dossiers")
    assert code in texts(queue) and f"dossier-admin:open:{code}" in button_data(queue)
    details = await official.press(f"dossier-admin:open:{code}")
    shown = texts(details)
    assert MOTHER_ID in shown and "Trần Thị Hoa" in shown and "/media/" in shown and "sig=" in shown
    assert f"dossier-admin:approve:{code}" in button_data(details)
    assert "nhận xử lý" in texts(await official.press(f"dossier-admin:take:{code}"))

    done = texts(await official.say(f"/request {code} Thiếu ảnh sổ hộ khẩu"))
    assert "yêu cầu" in done and "Thiếu ảnh sổ hộ khẩu" in done
    notices = await pushed_now(client, citizen)
    assert "nhận xử lý" in notices[0]["text"] and "cần bổ sung" in notices[1]["text"]
    assert "Thiếu ảnh sổ hộ khẩu" in notices[1]["text"]
    answer_button = f"dossier-reply:{code}"
    assert answer_button in [b["data"] for b in notices[1]["buttons"]]

    assert "Cần bổ sung" in texts(await citizen.say(f"{code} đến đâu rồi"))
    assert "ngay bây giờ" in texts(await citizen.press(answer_button))
    assert "quay lại hàng chờ" in texts(await citizen.say("Sổ hộ khẩu số 123 đã nộp bản giấy"))
    staff_notices = await pushed_now(client, official)
    assert len(staff_notices) == 1 and code in staff_notices[0]["text"]
    assert f"dossier-admin:open:{code}" in [b["data"] for b in staff_notices[0]["buttons"]]
    assert "Sổ hộ khẩu số 123" in texts(await official.say(f"/dossier {code}"))

    approved = texts(await official.say(f"/approve {code}"))
    assert "Đã duyệt" in approved and code in approved
    assert "Đã duyệt" in texts(await official.say(f"/dossier {code}"))
    delivered = await official.press(f"dossier-admin:deliver:{code}")
    assert "trả kết quả" in texts(delivered)
    notices = await pushed_now(client, citizen, seen=2)
    assert ["được duyệt" in notices[0]["text"], "ký số" in notices[1]["text"],
            "trả kết quả" in notices[2]["text"]] == [True, True, True]
    verify_code = re.search(r"Mã xác minh: (\w+)", notices[1]["text"]).group(1)
    check = await client.get(f"/verify/{verify_code}.json")
    assert check.status == 200
    verified = await check.json()
    assert verified["valid"] is True and verified["document"]["dossier_code"] == code

    async with database.session() as session:
        dossier = (await session.execute(select(Dossier).where(Dossier.code == code))).scalar_one()
        events = (await session.execute(select(DossierEvent).where(DossierEvent.dossier_id == dossier.id)
                                        .order_by(DossierEvent.id))).scalars().all()
        stored = (await session.execute(select(DossierAnswer.text_enc))).scalars().all()
    assert [e.status for e in events] == ["received", "processing", "needs_info", "processing", "approved",
                                          "delivered"]
    assert events[3].actor == f"user:{dossier.user_id}" and events[4].actor != events[3].actor
    assert len(stored) == 1 and "123" not in stored[0]  # the answer is encrypted
    moves = await audit_rows(database, "dossier.transition")
    assert [(m.detail["from"], m.detail["to"]) for m in moves] == [
        ("received", "processing"), ("processing", "needs_info"), ("needs_info", "processing"),
        ("processing", "approved"), ("approved", "delivered")]
    assert len(await audit_rows(database, "dossier.staff_view")) == 3


async def test_answer_with_a_photo(client: TestClient) -> None:
    citizen, code = await submit(client)
    official = await staff_joins(client)
    await official.say(f"/request {code} Gửi ảnh giấy chứng sinh rõ hơn")
    await citizen.press(f"dossier-reply:{code}")
    assert "quay lại hàng chờ" in texts((await citizen.send(jpeg((200, 10, 10))))["replies"])
    assert texts(await official.say(f"/dossier {code}")).count("/media/") == 3
    assert "không chờ" in texts(await citizen.press(f"dossier-reply:{code}"))


async def test_reject_needs_a_reason_and_is_final(client: TestClient, database: Database) -> None:
    citizen, code = await submit(client)
    official = await staff_joins(client)
    assert "Cách dùng" in texts(await official.say("/reject"))
    no_reason = texts(await official.say(f"/reject {code}"))
    assert "lý do" in no_reason and "Chưa làm gì" in no_reason
    async with database.session() as session:
        status = (await session.execute(select(Dossier.status).where(Dossier.code == code))).scalar_one()
    assert status == "received"  # the refused rejection did not take it up either

    assert "Nhập lý do" in texts(await official.press(f"dossier-admin:reject:{code}"))
    assert "Đã từ chối" in texts(await official.say("Người yêu cầu không cư trú tại xã"))
    notices = await pushed_now(client, citizen)
    assert "không được chấp thuận" in notices[-1]["text"]
    assert "không cư trú" in notices[-1]["text"]

    refused = texts(await official.say(f"/approve {code}"))
    assert "Không thể chuyển" in refused and "Bị từ chối" in refused
    assert "Không thể chuyển" in texts(await official.press(f"dossier-admin:approve:{code}"))
    assert "Bị từ chối" in texts(await citizen.say(f"{code} đến đâu rồi"))
    refusals = await audit_rows(database, "dossier.approved")
    assert [r.outcome for r in refusals] == ["refused", "refused"]
    assert "Không có hồ sơ" in texts(await official.say("/approve LB-2020-999999"))


async def test_citizens_are_denied_and_audited(client: TestClient, database: Database) -> None:
    citizen, code = await submit(client)
    for command in (f"/approve {code}", "/dossiers", f"/dossier {code}", f"/reject {code} x"):
        answer = texts(await citizen.say(command))
        assert "không có quyền" in answer and MOTHER_ID not in answer
    for forged in (f"dossier-admin:approve:{code}", f"dossier-admin:open:{code}"):
        assert "không có quyền" in texts(await citizen.press(forged))
    other = await ChatSession.open(client)
    assert "không chờ" in texts(await other.press(f"dossier-reply:{code}"))

    denials = [e for e in await audit_rows(database, "authorize") if e.outcome == "deny"]
    assert {e.subject for e in denials} >= {"/approve", "/dossiers", "/dossier", "/reject",
                                            "button:dossier-admin"}
    async with database.session() as session:
        status = (await session.execute(select(Dossier.status).where(Dossier.code == code))).scalar_one()
    assert status == "received"


async def test_queue_puts_overdue_first(client: TestClient, database: Database) -> None:
    _, first = await submit(client)
    _, second = await submit(client)
    _, third = await submit(client)
    today = dt.date.today()
    async with database.session() as session:
        for code, due in ((first, today + dt.timedelta(days=5)), (second, today - dt.timedelta(days=3)),
                          (third, today - dt.timedelta(days=1))):
            await session.execute(update(Dossier).where(Dossier.code == code).values(due_date=due))
        await session.commit()
    official = await staff_joins(client)
    queue = await official.say("/dossiers")
    assert [d.split(":")[-1] for d in button_data(queue)] == [second, third, first]
    lines = [line for line in texts(queue).splitlines() if line.startswith("•")]
    assert "QUÁ HẠN" in lines[0] and "QUÁ HẠN" in lines[1] and "QUÁ HẠN" not in lines[2]

    await official.say(f"/reject {second} Hồ sơ trùng")
    assert second not in texts(await official.say("/dossiers"))
