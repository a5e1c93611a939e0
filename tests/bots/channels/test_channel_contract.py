"""One conversation, the same on every channel: a greeting, a menu button, a step of a form answered by
typing, and a notice pushed later through the outbox. Each channel runs in the real app over real HTTP,
its platform played by the fakes of tests/support/, and every turn is asserted on what the user saw."""

from __future__ import annotations

from bots.assistant import PUSHED_REPLY_PREFIXES, Assistant
from bots.channels.registry import CHANNEL_TYPES, configured_channels
from bots.server import CHANNELS, channel_kit
from core.config import Settings
from core.db import Database
from core.messages import Button, Reply
from nlu.engine import NLUEngine
from tests.support.channel_drivers import Driver


async def test_greeting_menu_form_step_and_pushed_notice(driver: Driver) -> None:
    hello = await driver.say("xin chào")
    assert hello.text.startswith("Xin chào")  # with the user's name where the platform gives one
    assert "Mình là trợ lý số của Xã La Bằng. Bạn cần gì ạ?" in hello.text
    assert "🗂 Nộp hồ sơ" in hello.labels and "⚠️ Phản ánh hiện trường" in hello.labels
    assert hello.data[:2] == ["menu:dossier_submit", "menu:dossier_status"]

    procedures = await driver.press("menu:dossier_submit")  # a menu button
    assert "Bạn muốn làm thủ tục nào?" in procedures.text
    assert "Đăng ký khai sinh" in procedures.labels
    assert "dossier:pick:birth_registration" in procedures.data

    consent = await driver.press("dossier:pick:birth_registration")
    assert "Bạn có đồng ý không?" in consent.text and "✅ Tôi đồng ý" in consent.labels
    assert "dossier:consent:birth_registration" in consent.data
    form = await driver.press("dossier:consent:birth_registration")
    assert "Mình sẽ hỏi 12 câu ngắn" in form.text and "Họ và tên của bé là gì?" in form.text

    answered = await driver.say("Nguyễn Văn Bình")  # one step of the form, answered by typing
    assert "Bé sinh ngày nào? (ví dụ 15/10/2025)" in answered.text
    assert answered.data == ["form:back", "form:cancel"] and "✖ Hủy" in answered.labels

    notice = Reply("📢 Hồ sơ LB-2026-000001 của bạn đã được duyệt.",
                   (Button("🔎 Tra cứu hồ sơ", "menu:dossier_status"),))
    delivered = await driver.pushed(notice, key=f"contract:{driver.channel}:notice")
    assert "Hồ sơ LB-2026-000001 của bạn đã được duyệt." in delivered.text
    assert delivered.labels == ["🔎 Tra cứu hồ sơ"] and delivered.data == ["menu:dossier_status"]


async def test_each_channel_has_the_one_shape(driver: Driver) -> None:
    """Name, outbox prefix, routes and a sender for its own name; the server holds it under its name."""
    channel = driver.client.app[CHANNELS][driver.channel]
    assert channel.name == driver.channel
    assert type(channel) in CHANNEL_TYPES
    assert channel.sender is not None and channel.sender.name == driver.channel
    assert channel.routes()
    assert PUSHED_REPLY_PREFIXES.get(driver.channel) == channel.outbox_prefix
    assert "web" in driver.client.app[CHANNELS]  # the web chat is always on


def test_outbox_prefixes_come_from_the_channel_classes() -> None:
    assert PUSHED_REPLY_PREFIXES == {"telegram": "tg", "zalo": "za", "zalobot": "zb"}
    assert len(set(PUSHED_REPLY_PREFIXES.values())) == len(PUSHED_REPLY_PREFIXES)


def test_only_the_web_chat_without_credentials(settings: Settings, database: Database,
                                               nlu_engine: NLUEngine) -> None:
    assistant = Assistant.build(settings, nlu=nlu_engine, database=database)
    assert [channel.name for channel in configured_channels(channel_kit(assistant))] == ["web"]
