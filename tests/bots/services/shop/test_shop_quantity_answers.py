"""Quantities typed inside an order are quantities: none of them is taken for an emergency (the 115
answer), spelled-out numbers with or without diacritics included; a real emergency typed at the same
step still gets the 115 answer first."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient

from core.config import Settings
from nlu.engine import EMERGENCY, NLUEngine
from tests.support.chat import ChatSession, texts

ANSWERS = ["nhiều", "nhiều nhiều", "nhieu nhieu", "ít thôi", "it thoi", "2", "hai cân", "hai can", "ba can",
           "năm cân rưỡi", "nua can", "mười cân", "muoi can nha", "thêm 1 hộp", "them 1 hop", "nửa cân thôi",
           "2 hộp thôi", "500g", "5 kg", "ba gói nha", "nam goi", "vừa phải", "đủ rồi", "nhiều vô"]
# A wider net for the classifier alone: numbers × units × endings as villagers type them.
NUMBERS = ["1", "2", "3", "10", "một", "hai", "ba", "bốn", "năm", "nửa", "mười",
           "mot", "bon", "nam", "nua", "muoi"]
UNITS = ["", " cân", " can", " kg", " hộp", " hop", " gói", " goi", " lạng", " lang", " chai", " bó",
         " cân rưỡi"]
ENDINGS = ["", " thôi", " nhé", " nha", " thoi", " nhe", " nữa"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_burst": 400, "rate_limit_per_minute": 1200})


def test_typed_quantities_are_not_emergencies(nlu_engine: NLUEngine) -> None:
    said = {f"{start}{number}{unit}{end}" for number in NUMBERS for unit in UNITS for end in ENDINGS
            for start in ("", "thêm ", "lấy ", "them ")} | set(ANSWERS)
    taken = sorted(text for text in said if nlu_engine.parse(text).intent == EMERGENCY)
    assert taken == []


async def test_quantity_answers_in_an_order_never_get_the_115_answer(client: TestClient) -> None:
    buyer = await ChatSession.open(client)
    for answer in ANSWERS:
        asked = texts(await buyer.say("mua chè búp"))
        assert "Bạn mua bao nhiêu" in asked, asked
        replied = texts(await buyer.say(answer))
        assert "115" not in replied, (answer, replied)
        assert "số lượng" in replied or "Giao tới đâu" in replied or "chỉ còn" in replied, (answer, replied)
        await buyer.say("/cancel")
    assert "Bạn mua bao nhiêu" in texts(await buyer.say("mua chè búp"))
    assert "115" in texts(await buyer.say("bà tôi khó thở tím tái"))
