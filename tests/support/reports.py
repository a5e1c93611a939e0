"""A village report through the web chat: places in the commune, consent, a report placed by location."""

from __future__ import annotations

from tests.support.chat import ChatSession, button_data, jpeg, texts

KEM = (21.675, 105.59)  # inside Xóm Kèm's outline in data/commune.yml
LA_CUT = (21.675, 105.61)
OUTSIDE = (21.0, 105.8)  # Hà Nội


async def consented(chat: ChatSession, first: str) -> list[dict]:
    """Says `first`; agrees to the reports consent when asked (once per villager)."""
    replies = await chat.say(first)
    if "report:consent:yes" in button_data(replies):
        replies = await chat.press("report:consent:yes")
    return replies


async def report_by_location(chat: ChatSession, first: str, point: tuple[float, float] | dict,
                             photo: bool = False) -> str:
    replies = await consented(chat, first)
    if "report:kind:road" in button_data(replies):
        replies = await chat.press("report:kind:waste")
    if "Không có ảnh" not in texts(replies) and "report:skip-photo" not in button_data(replies):
        replies = await chat.say("Rác đổ thành đống lớn cạnh cầu tràn, bốc mùi mấy hôm nay")
    assert "report:skip-photo" in button_data(replies)
    replies = await (chat.send(jpeg()) if photo else chat.send({"button": "report:skip-photo"}))
    replies = replies["replies"]
    assert replies[0]["request_location"] is True and "report:hamlet:kem" in button_data(replies)
    body = point if isinstance(point, dict) else {"location": {"lat": point[0], "lon": point[1]}}
    return texts((await chat.send(body))["replies"])
