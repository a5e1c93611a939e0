"""One installation for a province's communes (core/province.py, bots/dialogue/communes.py): each
villager belongs to one commune, asked once and remembered, and sees that commune's data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from backends.shop.sellers import create_seller_invite
from bots.server import ASSISTANT
from core.config import REPO_ROOT, Settings
from core.db import Database
from core.models import AuditEntry, User
from core.province import Province, ProvinceError
from nlu.engine import NLUEngine
from tests.support.channel_drivers import TelegramDriver
from tests.support.chat import ChatSession, button_data, pushed_now, texts
from tests.support.communes import joins_in
from tests.support.fake_telegram import FakeTelegram
from tests.support.served import served_client
from tests.support.telegram import SECRET, fake, open_client, telegram_settings

__all__ = ["fake"]  # the fixture, used by name below

# Inside Xóm Làng Mười (data/communes/SM/commune.yml) and Xóm Kèm (data/communes/LB/commune.yml).
LANG_MUOI = {"lat": 21.8723, "lon": 106.1175}


@pytest.fixture
def province_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"communes": "LB,SM"})


@pytest.fixture
async def province(province_settings: Settings, database: Database,
                   nlu_engine: NLUEngine) -> AsyncIterator[TestClient]:
    async with served_client(province_settings, database, nlu_engine) as test_client:
        yield test_client


async def commune_of(database: Database, chat: ChatSession) -> str | None:
    async with database.session() as session:
        return (await session.execute(select(User.commune).where(User.external_id == chat.user_id))
                ).scalar_one()


# Settings and data


def test_the_communes_served_are_checked_and_the_home_one_comes_first() -> None:
    assert Settings(_env_file=None).served_communes == ("LB",)
    assert Settings(_env_file=None, communes="SM, LB").served_communes == ("LB", "SM")
    assert Settings(_env_file=None, communes="SM").commune_code == "SM"  # the first listed, by default
    for bad in ("LB,sm", "LB,LB", "LB,TOOLONG"):
        with pytest.raises(ValidationError):
            Settings(_env_file=None, communes=bad)
    with pytest.raises(ValidationError, match="not in XASO_COMMUNES"):
        Settings(_env_file=None, communes="SM", commune_code="LB")


def test_each_commune_has_its_own_data_and_shares_the_province_defaults(tmp_path: Path) -> None:
    province = Province.load(Settings(_env_file=None, communes="LB,SM"))
    assert [(commune.code, commune.name) for commune in province] == [("LB", "Xã La Bằng"),
                                                                      ("SM", "Xã Sảng Mộc")]
    sang_moc = province.get("SM")
    assert sang_moc is not None and sang_moc.district == "huyện Võ Nhai"
    assert province.at(LANG_MUOI["lat"], LANG_MUOI["lon"]) is sang_moc
    assert province.at(21.675, 105.59) is province.get("LB")
    assert province.at(10.0, 106.0) is None
    for typed in ("sang moc", "Sảng Mộc", "xa sang moc", "XÃ SẢNG MỘC", "sm"):
        assert province.named(typed) is sang_moc, typed
    assert province.named("sang") is None and province.named("") is None
    # An answer to "which commune?" may say more, or miss a letter; a first message may not.
    for typed in ("sang mok", "san moc", "toi o xa sang moc", "Sang Moc commune", "moc"):
        assert province.named(typed, loosely=True) is sang_moc, typed
        assert province.named(typed) is None, typed
    for typed in ("mua mat ong", "sa", "thai nguyen", "vo nhai"):
        assert province.named(typed, loosely=True) is None, typed
    with pytest.raises(ProvinceError, match="TT"):
        Province.load(Settings(_env_file=None, communes="LB,TT"))
    # A commune's own installation with the old layout (data/commune.yml) keeps working.
    data = tmp_path / "data"
    data.mkdir()
    (data / "commune.yml").write_text("name: Xã Thử\n", encoding="utf-8")
    alone = Province.load(Settings(_env_file=None, data_dir=data, commune_code="TH"))
    assert [(commune.code, commune.name) for commune in alone] == [("TH", "Xã Thử")] and not alone.several
    assert (REPO_ROOT / "data" / "procedures.yml").exists()  # shared: no commune has its own


# One commune: nothing asked


async def test_one_communes_installation_asks_nothing_and_xa_names_it(client: TestClient,
                                                                      database: Database) -> None:
    chat = await ChatSession.open(client)
    assert "Xã La Bằng" in texts(await chat.say("/start"))
    assert await commune_of(database, chat) == "LB"
    replies = await chat.say("/xa")
    assert "Xã La Bằng" in texts(replies) and button_data(replies) == []
    assert "commune:show" not in button_data(await chat.say("/help"))  # nothing to change


# Several communes


async def test_a_new_villager_is_asked_once_and_their_request_answered_in_their_commune(
        province: TestClient, database: Database) -> None:
    chat = await ChatSession.open(province)
    asked = await chat.say("mua mat ong")
    assert "xã nào" in texts(asked)
    assert button_data(asked) == ["commune:set:LB", "commune:set:SM"]
    assert await commune_of(database, chat) is None
    answered = await chat.say("sang moc")  # typed, without diacritics
    shown = texts(answered)
    assert "Xã Sảng Mộc" in shown and "Mật ong rừng Sảng Mộc" in shown  # its own honey, not La Bằng's
    assert "Mật ong hoa nhãn" not in shown
    assert await commune_of(database, chat) == "SM"
    greeting = texts(await chat.say("/start"))
    assert "Xã Sảng Mộc" in greeting and "xã nào" not in greeting  # remembered


async def test_a_tap_a_number_or_a_location_answers_too(province: TestClient, database: Database) -> None:
    tapped = await ChatSession.open(province)
    await tapped.say("/start")
    assert "Xã La Bằng" in texts(await tapped.press("commune:set:LB"))
    assert await commune_of(database, tapped) == "LB"

    numbered = await ChatSession.open(province)
    await numbered.say("xin chao")
    await numbered.say("2")
    assert await commune_of(database, numbered) == "SM"

    for answer, code in (("sang mok", "SM"), ("toi o xa Sang Moc", "SM"), ("La Bang commune", "LB")):
        typed = await ChatSession.open(province)  # the question asked, then answered in their words
        await typed.say("xin chao")
        assert "Xã" in texts(await typed.say(answer)), answer
        assert await commune_of(database, typed) == code, answer

    located = await ChatSession.open(province)
    await located.say("/start")
    await located.send({"location": LANG_MUOI})
    assert await commune_of(database, located) == "SM"


async def test_a_red_flag_is_answered_before_the_question(province: TestClient, database: Database) -> None:
    chat = await ChatSession.open(province)
    replies = await chat.say("cuu voi, bo toi kho tho")
    assert "115" in replies[0]["text"]
    assert "xã nào" in replies[-1]["text"] and "commune:set:SM" in button_data(replies)
    assert await commune_of(database, chat) is None


async def test_a_forged_or_old_commune_button_is_refused(province: TestClient, database: Database) -> None:
    chat = await ChatSession.open(province)
    refused = await chat.press("commune:set:XX")
    assert "không có trong hệ thống" in texts(refused) and "commune:set:LB" in button_data(refused)
    assert await commune_of(database, chat) is None
    await chat.press("commune:set:'; DROP TABLE users; --")
    assert await commune_of(database, chat) is None


async def test_xa_changes_commune_and_leaves_the_other_communes_flow(province: TestClient,
                                                                     database: Database) -> None:
    chat = await ChatSession.open(province)
    await chat.press("commune:set:LB")
    await chat.say("mua che")  # La Bằng's tea, a flow in progress
    shown = await chat.say("doi xa")
    assert "Xã La Bằng" in texts(shown) and "commune:set:SM" in button_data(shown)
    changed = texts(await chat.press("commune:set:SM"))
    assert "Xã Sảng Mộc" in changed
    assert await commune_of(database, chat) == "SM"
    menu = await chat.say("/help")
    assert "commune:show" in button_data(menu)
    assert "commune:set:LB" in button_data(await chat.press("commune:show"))
    await chat.say("/cancel")
    # Asked with /xa, then something else typed: the question is dropped and that is answered.
    await chat.say("/xa")
    assert "Xã Sảng Mộc" in texts(await chat.say("/start"))
    assert await commune_of(database, chat) == "SM"


async def test_an_entry_link_names_the_commune_and_a_forged_one_is_refused(province: TestClient,
                                                                           database: Database) -> None:
    response = await province.post("/api/chat/sessions", json={"commune": "SM"})
    assert response.status == 200
    body = await response.json()
    chat = ChatSession(province, body["token"], body["user_id"])
    greeting = texts(await chat.say("/start"))
    assert "Xã Sảng Mộc" in greeting and "xã nào" not in greeting
    for forged in ("XX", "sm", 7, "LB'--"):
        refused = await province.post("/api/chat/sessions", json={"commune": forged})
        assert refused.status == 400 and (await refused.json())["error"] == "bad_commune"
    async with database.session() as session:
        assert len((await session.execute(select(User))).all()) == 1  # no user made by a refusal


async def test_a_communes_telegram_link_names_the_commune(province_settings: Settings, database: Database,
                                                          nlu_engine: NLUEngine, fake: FakeTelegram) -> None:
    """`https://t.me/<bot>?start=SM` (a commune's poster or QR): Telegram sends `/start SM`."""
    client = await open_client(telegram_settings(province_settings, fake), database, nlu_engine)
    try:
        newcomer = TelegramDriver(client, fake, database, SECRET, user_id=501)
        greeting = await newcomer.say("/start SM")
        assert "Xã Sảng Mộc" in greeting.text and "xã nào" not in greeting.text
        assert "commune:set:LB" not in greeting.data
        async with database.session() as session:
            assert (await session.execute(select(User.commune).where(User.external_id == "501"))
                    ).scalar_one() == "SM"
        # A villager of La Bằng opening Sảng Mộc's link is asked, their commune named; nothing moves.
        villager = TelegramDriver(client, fake, database, SECRET, user_id=502)
        await villager.say("/start")
        await villager.press("commune:set:LB")
        asked = await villager.say("/start SM")
        assert "Xã La Bằng" in asked.text and {"commune:set:LB", "commune:set:SM"} <= set(asked.data)
        assert "Xã Sảng Mộc" in (await villager.press("commune:set:SM")).text
        # Their own commune's link is a plain /start; an unknown code, the usual question.
        assert "xã nào" not in (await villager.say("/start SM")).text.lower()
        stranger = TelegramDriver(client, fake, database, SECRET, user_id=503)
        assert "xã nào" in (await stranger.say("/start XX")).text
    finally:
        await client.close()


async def test_what_the_other_commune_asked_last_is_not_open_after_a_change(province: TestClient,
                                                                          database: Database) -> None:
    """La Bằng's tea asked «how many kg?»; after /xa and Sảng Mộc chosen, a typed request is routed as
    one, not taken for a wrong answer to La Bằng's question. Choosing is audited, a first choice too."""
    chat = await ChatSession.open(province)
    await chat.say("mua che")  # asked the commune first
    asked = await chat.say("la bang")
    assert any(data.startswith("shop:") for data in button_data(asked)), texts(asked)  # how many kg?
    await chat.say("/xa")
    await chat.say("sang moc")
    answer = texts(await chat.say("khai sinh"))
    assert "chưa hiểu" not in answer and "Đăng ký khai sinh" in answer, answer
    await chat.say("/xa")  # asked again, then something else typed: routed as a request
    answer = texts(await chat.say("khai sinh"))
    assert "chưa hiểu" not in answer and "Đăng ký khai sinh" in answer, answer
    async with database.session() as session:
        chosen = (await session.execute(select(AuditEntry.subject, AuditEntry.detail)
                                        .where(AuditEntry.action == "commune.choose")
                                        .order_by(AuditEntry.seq))).all()
    assert [(subject, detail.get("before") if detail else None) for subject, detail in chosen] == [
        ("LB", None), ("SM", "LB")]


async def test_an_invite_is_redeemed_among_its_communes_services(province: TestClient) -> None:
    """A newcomer whose first message is a Sảng Mộc seller invite becomes that commune's seller: the
    answer names the commune and the seller (not its id), and Sảng Mộc's admin is told, not La Bằng's."""
    sm_admin, lb_admin = await joins_in(province, "SM", "admin"), await joins_in(province, "LB", "admin")
    assistant = province.app[ASSISTANT]
    async with assistant.database.session() as session:
        code = await create_seller_invite(session, assistant.services.hasher, "htx_mat_ong_sang_moc",
                                          created_by="test", commune="SM")
    seller = await ChatSession.open(province)
    joined = texts(await seller.say(f"/join {code}"))
    assert "Xã Sảng Mộc" in joined and "HTX Mật ong Sảng Mộc" in joined, joined
    assert "htx_mat_ong_sang_moc" not in joined and "xã nào" not in joined
    assert "vừa nhận vai trò" in texts(await pushed_now(province, sm_admin))
    assert "vừa nhận vai trò" not in texts(await pushed_now(province, lb_admin))
    orders = texts(await seller.say("/orders"))  # a seller now, in Sảng Mộc
    assert "Dùng lệnh" not in orders and "không có quyền" not in orders.lower(), orders
