"""Villagers type: every question of every flow understands answers typed instead of tapped.

`data/typed_answers.tsv` holds one row per (question, typed answer, value expected), written apart
from the code: answers with and without diacritics, chat abbreviations, particles, numbers in words,
choices named in the villager's words, ratings, days and times. Each row runs through the real web
chat API on a fresh session: the question is reached the way a villager reaches it (words and
presses), the answer is typed, and what the service understood is read back from the database
(the open form's values, consents, bookings, orders, reports). `?` means "not an answer": the same
question must be asked again, with its buttons, and nothing recorded.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from backends.health.appointments import Appointment
from backends.reports.store import Report
from backends.shop.orders import Order
from bots.assistant import Assistant
from bots.server import ASSISTANT
from core.config import Settings
from core.identity import find_user
from core.messages import Button
from tests.support.chat import button_data, jpeg, texts
from tests.support.villager import (
    MONDAY,
    NOT_UNDERSTOOD,
    Villager,
    fix_answer,
    rating_given,
    rating_notice,
    report_fixed,
)

TABLE = Path(__file__).resolve().parent / "data" / "typed_answers.tsv"
MIN_ROWS = 300


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Every row reports a road in one hamlet: no linking to the row before (a report of its own each).
    return settings.model_copy(update={"rate_limit_burst": 5000, "rate_limit_per_minute": 50000,
                                       "report_duplicate_hours": 0.0})


def table() -> dict[str, list[tuple[str, str]]]:
    rows: dict[str, list[tuple[str, str]]] = defaultdict(list)
    lines = TABLE.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "question\ttyped\texpected"
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.startswith("#"):
            continue
        question, typed, expected = line.split("\t")
        assert question and typed and expected, f"{TABLE.name}:{number}"
        rows[question].append((typed, expected))
    return rows


Reach = Callable[[Villager], Awaitable[list[dict[str, Any]]]]
Check = Callable[[Villager, list[dict[str, Any]]], Awaitable[str]]


# --- reaching each question ------------------------------------------------------------------------


async def consult_who(v: Villager) -> list[dict[str, Any]]:
    asked = await v.say("tôi muốn hỏi bác sĩ")
    assert "health:consent:yes" in button_data(asked), texts(asked)
    replies = await v.press("health:consent:yes")
    assert "form:choice:child" in button_data(replies)
    return replies


async def consult_age(v: Villager) -> list[dict[str, Any]]:
    await consult_who(v)
    return await v.press("form:choice:child")


async def consult_photo(v: Villager) -> list[dict[str, Any]]:
    await consult_age(v)
    await v.say("3")
    await v.say("Sốt 38 độ, ho, sổ mũi")
    replies = await v.say("từ hôm qua")
    assert "form:skip" in button_data(replies)
    return replies


async def consult_summary(v: Villager) -> list[dict[str, Any]]:
    await consult_photo(v)
    replies = await v.press("form:skip")
    assert "form:confirm" in button_data(replies)
    return replies


async def birth_form(v: Villager) -> list[dict[str, Any]]:
    replies = await v.press("dossier:start:birth_registration")
    if "dossier:consent:birth_registration" in button_data(replies):
        replies = await v.press("dossier:consent:birth_registration")
    return replies


async def birth_sex(v: Villager) -> list[dict[str, Any]]:
    await birth_form(v)
    await v.say("Nguyễn Văn An")
    return await v.say("15/10/2025")


async def birth_father(v: Villager) -> list[dict[str, Any]]:
    await birth_sex(v)
    await v.press("form:choice:male")
    await v.say("Trạm y tế xã La Bằng")
    await v.say("Trần Thị Bình")
    return await v.say("019090123456")


async def birth_marriage_paper(v: Villager) -> list[dict[str, Any]]:
    await birth_father(v)
    await v.press("form:skip")
    await v.say("xóm Kèm, xã La Bằng")
    await v.say("0912345678")
    await v.chat.send(jpeg())
    replies = (await v.chat.send(jpeg()))["replies"]
    assert "form:skip" in button_data(replies), texts(replies)
    return replies


async def copy_pages(v: Villager) -> list[dict[str, Any]]:
    replies = await v.press("dossier:start:certified_copy")
    if "dossier:consent:certified_copy" in button_data(replies):
        await v.press("dossier:consent:certified_copy")
    return await v.press("form:choice:id_card")


async def copy_document(v: Villager) -> list[dict[str, Any]]:
    replies = await v.press("dossier:start:certified_copy")
    if "dossier:consent:certified_copy" in button_data(replies):
        replies = await v.press("dossier:consent:certified_copy")
    return replies


async def health_consent(v: Villager) -> list[dict[str, Any]]:
    replies = await v.say("cho tôi hỏi bác sĩ về huyết áp")
    assert "health:consent:yes" in button_data(replies)
    return replies


async def dossier_confirm(v: Villager) -> list[dict[str, Any]]:
    replies = await v.say("tôi muốn làm giấy khai sinh cho con")
    assert "dossier:start:birth_registration" in button_data(replies), texts(replies)
    return replies


async def dossier_consent(v: Villager) -> list[dict[str, Any]]:
    replies = await v.press("dossier:start:birth_registration")
    assert "dossier:consent:birth_registration" in button_data(replies)
    return replies


async def slot_step(v: Villager) -> list[dict[str, Any]]:
    replies = await v.press("appt:kind:station")
    assert any(data.startswith("appt:pick:") for data in button_data(replies)), texts(replies)
    return replies


async def appointment_confirm(v: Villager) -> list[dict[str, Any]]:
    offered = await slot_step(v)
    first = next(data for data in button_data(offered) if data.startswith("appt:pick:"))
    replies = await v.press(first)
    assert any(data.startswith("appt:book:") for data in button_data(replies))
    return replies


async def shop_quantity(v: Villager) -> list[dict[str, Any]]:
    replies = await v.say("mua chè búp")
    assert "Bạn mua bao nhiêu" in texts(replies), texts(replies)
    return replies


async def shop_confirm(v: Villager) -> list[dict[str, Any]]:
    await shop_quantity(v)
    await v.say("2 cân")
    await v.say("nhà ông Tư, xóm Kèm")
    replies = await v.say("0912345678")
    if any(data.startswith("shop:pay:") for data in button_data(replies)):
        replies = await v.press("shop:pay:cash")
    assert any(data.startswith("shop:confirm:") for data in button_data(replies)), texts(replies)
    return replies


async def shop_payment(v: Villager) -> list[dict[str, Any]]:
    await shop_quantity(v)
    await v.say("2 cân")
    await v.say("nhà ông Tư, xóm Kèm")
    return await v.say("0912345678")


async def report_consent(v: Villager) -> list[dict[str, Any]]:
    replies = await v.say("tôi muốn phản ánh một việc ở xóm")
    assert "report:consent:yes" in button_data(replies), texts(replies)
    return replies


async def report_kind(v: Villager) -> list[dict[str, Any]]:
    await report_consent(v)
    replies = await v.press("report:consent:yes")
    assert "report:kind:road" in button_data(replies)
    return replies


async def report_photo(v: Villager) -> list[dict[str, Any]]:
    await report_kind(v)
    await v.press("report:kind:road")
    replies = await v.say("Đường vào xóm có ổ gà rất to, xe máy hay ngã")
    assert "report:skip-photo" in button_data(replies)
    return replies


async def report_place(v: Villager) -> list[dict[str, Any]]:
    await report_photo(v)
    replies = await v.press("report:skip-photo")
    assert "report:hamlet:kem" in button_data(replies)
    return replies


async def subscription(v: Villager) -> list[dict[str, Any]]:
    replies = await v.press("ann:settings")
    assert "ann:done" in button_data(replies), texts(replies)
    return replies


async def mydata_delete(v: Villager) -> list[dict[str, Any]]:
    replies = await v.press("mydata:delete")
    assert "mydata:delete-confirm" in button_data(replies), texts(replies)
    return replies


# --- what was understood ----------------------------------------------------------------------------


def form_field(field: str) -> Check:
    async def check(v: Villager, replies: list[dict[str, Any]]) -> str:
        return await v.form_value(field)
    return check


async def summary_answer(v: Villager, replies: list[dict[str, Any]]) -> str:
    state = await v.state()
    if state is not None and state.flow == "consult":
        return "confirm"
    form = state.data["form"] if state is not None and state.flow == "form" else {}
    if any(data.startswith("form:edit:") for data in button_data(replies)) or form.get("returning"):
        return "edit"
    return NOT_UNDERSTOOD if "form:confirm" in button_data(replies) else f"(other: {texts(replies)[:80]})"


def consent_answer(purpose: str, yes_button: str) -> Check:
    async def check(v: Villager, replies: list[dict[str, Any]]) -> str:
        if await v.consent(purpose):
            return "yes"
        return NOT_UNDERSTOOD if yes_button in button_data(replies) else "no"
    return check


async def dossier_confirm_answer(v: Villager, replies: list[dict[str, Any]]) -> str:
    data = button_data(replies)
    if "dossier:consent:birth_registration" in data or (await v.form_value("child_name")) == "?":
        return "yes"
    if any(item.startswith("dossier:pick:") for item in data):
        return "no"
    return NOT_UNDERSTOOD if "dossier:start:birth_registration" in data else f"(other: {texts(replies)[:80]})"


async def chosen_slot(v: Villager, replies: list[dict[str, Any]]) -> str:
    state = await v.state()
    if state is not None and state.flow == "appointment" and "slot" in state.data:
        starts = dt.datetime.strptime(state.data["slot"].split(":", 1)[1], "%Y%m%d%H%M")
        return starts.strftime("%d/%m %H:%M")
    return NOT_UNDERSTOOD if any(d.startswith("appt:pick:") for d in button_data(replies)) else "(none)"


async def booked(v: Villager, replies: list[dict[str, Any]]) -> str:
    user_id = await v.user_id()
    async with v.assistant.database.session() as session:
        found = (await session.execute(select(Appointment).where(Appointment.user_id == user_id))).first()
    if found is not None:
        return "yes"
    if any(data.startswith("appt:pick:") for data in button_data(replies)):
        return "no"
    return NOT_UNDERSTOOD if any(d.startswith("appt:book:") for d in button_data(replies)) else "(none)"


async def draft_quantity(v: Villager, replies: list[dict[str, Any]]) -> str:
    state = await v.state()
    if state is None or state.flow != "shop" or state.data.get("milli") is None:
        return NOT_UNDERSTOOD
    return format((Decimal(state.data["milli"]) / 1000).normalize(), "f")


async def ordered(v: Villager, replies: list[dict[str, Any]]) -> str:
    user_id = await v.user_id()
    async with v.assistant.database.session() as session:
        found = (await session.execute(select(Order).where(Order.user_id == user_id))).first()
    if found is not None:
        return "yes"
    state = await v.state()
    if state is None:
        return "no"
    return NOT_UNDERSTOOD if any(d.startswith("shop:confirm:") for d in button_data(replies)) else "(none)"


async def payment_chosen(v: Villager, replies: list[dict[str, Any]]) -> str:
    state = await v.state()
    provider = state.data.get("provider") if state is not None and state.flow == "shop" else None
    return str(provider) if provider else NOT_UNDERSTOOD


def report_field(key: str) -> Check:
    async def check(v: Villager, replies: list[dict[str, Any]]) -> str:
        state = await v.state()
        if state is not None and state.flow == "report":
            if key not in state.data:
                return NOT_UNDERSTOOD
            value = state.data[key]
            return "skip" if value is None else str(value["hamlet"] if isinstance(value, dict) else value)
        user_id = await v.user_id()
        async with v.assistant.database.session() as session:
            report = (await session.execute(select(Report).where(Report.reporter_id == user_id))).scalar()
        if report is None:
            return "(none)"
        return report.hamlet_id if key == "place" else "skip" if key == "photo" else str(getattr(report, key))
    return check


async def subscribed(v: Villager, replies: list[dict[str, Any]]) -> str:
    from backends.loudspeaker.store import subscription_of

    user_id = await v.user_id()
    async with v.assistant.database.session() as session:
        row = await subscription_of(session, user_id)
    if row is None or not row.active:
        return "done" if "ann:done" not in button_data(replies) else NOT_UNDERSTOOD
    chosen = sorted([*(row.hamlets or [])])
    return ",".join(chosen) or NOT_UNDERSTOOD


async def deleted(v: Villager, replies: list[dict[str, Any]]) -> str:
    async with v.assistant.database.session() as session:
        found = await find_user(session, "web", v.chat.user_id)
    if found is None:
        return "yes"
    return NOT_UNDERSTOOD if "mydata:delete-confirm" in button_data(replies) else "no"


QUESTIONS: dict[str, tuple[Reach, Check]] = {
    "consult.who": (consult_who, form_field("who")),
    "consult.age": (consult_age, form_field("age")),
    "consult.photo": (consult_photo, form_field("photo")),
    "consult.summary": (consult_summary, summary_answer),
    "birth.child_sex": (birth_sex, form_field("child_sex")),
    "birth.father_name": (birth_father, form_field("father_name")),
    "birth.marriage_paper": (birth_marriage_paper, form_field("marriage_certificate")),
    "copy.document": (copy_document, form_field("document_type")),
    "copy.pages": (copy_pages, form_field("pages")),
    "consent.health": (health_consent, consent_answer("health", "health:consent:yes")),
    "dossier.confirm": (dossier_confirm, dossier_confirm_answer),
    "dossier.consent": (dossier_consent, consent_answer("dossier", "dossier:consent:birth_registration")),
    "appointment.slot": (slot_step, chosen_slot),
    "appointment.confirm": (appointment_confirm, booked),
    "shop.quantity": (shop_quantity, draft_quantity),
    "shop.payment": (shop_payment, payment_chosen),
    "shop.confirm": (shop_confirm, ordered),
    "report.consent": (report_consent, consent_answer("reports", "report:consent:yes")),
    "report.kind": (report_kind, report_field("kind")),
    "report.photo": (report_photo, report_field("photo")),
    "report.place": (report_place, report_field("place")),
    "report.fixed": (report_fixed, fix_answer),
    "rating": (rating_notice, rating_given),
    "subscription": (subscription, subscribed),
    "mydata.delete": (mydata_delete, deleted),
}


def test_the_table_is_large_and_covers_every_question() -> None:
    rows = table()
    assert sum(len(answers) for answers in rows.values()) >= MIN_ROWS
    assert set(rows) == set(QUESTIONS)


@pytest.mark.parametrize("question", sorted(QUESTIONS))
async def test_typed_answers(client: TestClient, question: str) -> None:
    reach, check = QUESTIONS[question]
    assistant: Assistant = client.app[ASSISTANT]
    assistant.assembly.desk("health").set_clock(lambda: MONDAY.astimezone(dt.UTC))
    engine = assistant.services.nlu
    clock = getattr(engine, "clock", None)
    if clock is not None:
        engine.clock = lambda: MONDAY  # "mai", "thứ năm" count from the same Monday
    wrong = []
    try:
        for typed, expected in table()[question]:
            villager = await Villager.open(client)
            await reach(villager)
            replies = await villager.say(typed)
            understood = await check(villager, replies)
            if understood != expected:
                wrong.append((typed, expected, understood, texts(replies)[:160]))
            elif expected == NOT_UNDERSTOOD:
                assert replies and replies[-1]["buttons"], (typed, "asked again without its buttons")
                assert "115" not in texts(replies), (typed, "a false emergency")
            else:
                assert "Gọi ngay 115" not in texts(replies), (typed, "a false emergency")
    finally:
        if clock is not None:
            engine.clock = clock
    assert wrong == [], "\n".join(f"{typed!r}: expected {expected}, understood {understood} — {said!r}"
                                   for typed, expected, understood, said in wrong)


def test_buttons_carry_their_meaning_for_typed_answers() -> None:
    assert Button("Có", "x:yes", means="yes") == Button("Có", "x:yes")  # meaning never changes identity
