"""A citizen's birth registration through the web chat, from the first words to the receipt's code; in a
province, by a villager of a given commune, with that commune's officials."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from tests.support.chat import ChatSession, button_data, jpeg, texts

MOTHER_ID = "019190012345"
CODE = re.compile(r"LB-\d{4}-\d{6}")


def code_pattern(commune: str) -> re.Pattern[str]:
    """A dossier code of `commune`."""
    return re.compile(rf"{commune}-\d{{4}}-\d{{6}}")


async def open_birth_form(chat: ChatSession) -> None:
    replies = await chat.say("làm giấy khai sinh cho con")
    assert "Đăng ký khai sinh" in texts(replies)
    assert "dossier:start:birth_registration" in button_data(replies)
    consent = await chat.press("dossier:start:birth_registration")
    assert "dossier:consent:birth_registration" in button_data(consent)
    assert "Họ và tên của bé" in texts(await chat.press("dossier:consent:birth_registration"))


async def fill_fields(chat: ChatSession) -> None:
    """From the child's name to the first paper."""
    await chat.say("Nguyễn Văn Bình")
    assert "form:choice:male" in button_data(await chat.say("15/10/2025"))
    await chat.press("form:choice:male")
    await chat.say("Trạm Y tế xã La Bằng")
    assert "căn cước" in texts(await chat.say("Trần Thị Hoa"))
    await chat.say(MOTHER_ID)
    await chat.press("form:skip")
    await chat.say("Xóm Kèm, xã La Bằng")
    assert "Giấy chứng sinh" in texts(await chat.say("0912345678"))


async def send_papers_and_confirm(chat: ChatSession, code: re.Pattern[str] = CODE) -> str:
    assert "CCCD" in texts((await chat.send(jpeg()))["replies"])
    await chat.send(jpeg((10, 200, 10)))
    summary = await chat.press("form:skip")
    assert "form:confirm" in button_data(summary) and "Trần Thị Hoa" in texts(summary)
    receipt = texts(await chat.press("form:confirm"))
    match = code.search(receipt)
    assert match, receipt
    assert "Giấy chứng sinh" in receipt and "miễn phí" in receipt and "ngày làm việc" in receipt
    assert re.search(r"\d{2}/\d{2}/\d{4}", receipt)
    return match.group(0)


async def submit(client: TestClient, commune: str | None = None) -> tuple[ChatSession, str]:
    """A birth registration by a new villager (of `commune`, in a province); their chat and its code."""
    citizen = await ChatSession.open(client, commune=commune)
    await open_birth_form(citizen)
    await fill_fields(citizen)
    return citizen, await send_papers_and_confirm(citizen, code_pattern(commune) if commune else CODE)
