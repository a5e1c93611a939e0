"""Staff writing an announcement in the web chat up to its preview."""

from __future__ import annotations

from typing import Any

from tests.support.chat import ChatSession, button_data, texts

TEXT = "Sáng mai 7 giờ, trạm y tế xã tiêm vắc xin sởi cho trẻ dưới 5 tuổi. Mang theo sổ tiêm chủng."


async def write_until_preview(official: ChatSession, when: str = "announce:when:now",
                              hamlets: tuple[str, ...] = ("kem",), topic: str = "vaccination",
                              text: str = TEXT) -> dict[str, Any]:
    replies = await official.say(f"/announce {text}")
    assert "announce:all" in button_data(replies), texts(replies)
    for hamlet in hamlets:
        replies = await official.press(f"announce:hamlet:{hamlet}")
    replies = await official.press("announce:next" if hamlets else "announce:all")
    assert f"announce:topic:{topic}" in button_data(replies)
    replies = await official.press(f"announce:topic:{topic}")
    assert "announce:when:now" in button_data(replies)
    replies = await (official.press(when) if when.startswith("announce:") else official.say(when))
    assert "announce:confirm" in button_data(replies), texts(replies)
    return replies[0]
