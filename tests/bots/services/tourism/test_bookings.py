"""Homestay bookings through the real web chat API. An English visitor and a Vietnamese villager each find a
place, hear its story, open its poster's page, book a homestay and pay the deposit by card at localstripe
(the signed webhook settles it); the host confirms from chat; a cancellation refunds by the rules (to the
card through Stripe, by hand for a transfer). A villager types every answer without diacritics and pays
by VietQR; the host says the transfer arrived. Bad input (check-out before check-in, 0 or 100 guests, a
past day, a sold-out night, forged and malformed buttons, a host confirming another stay's booking)
changes nothing; 20 guests racing for the same nights get one booking; unpaid holds are released and
reminders sent once; /mydata's erasure cancels what is coming; the migration matches the models."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from backends.payments import ledger
from backends.tourism import bookings
from backends.tourism.bookings import Booking, NightTaken, Request, StayNight, book
from backends.tourism.hosts import create_host_invite
from bots.server import ASSISTANT
from bots.services.tourism.hosting import release_expired, send_reminders
from core.config import Settings
from core.crypto import FieldCipher
from core.db import Database
from core.models import User, utcnow
from core.timezones import VIETNAM
from nlu.engine import NLUEngine
from tests.support.chat import ChatSession, button_data, texts
from tests.support.db import schema_differences
from tests.support.localstripe import localstripe_url
from tests.support.roles import staff_joins
from tests.support.shop import pushed_with
from tests.support.skills import pressed
from tests.support.stripe_payments import GOOD_CARD, buyer, every_provider, pay_by_card, served_with_webhook

__all__ = ["buyer", "localstripe_url"]  # fixtures, used by name below

HOUSE, ROOM = "mau_nha_san", "mau_phong_doi"  # stays.yml: 10 guests, 600.000 đ; 2 guests, 350.000 đ


def vn_today() -> dt.date:
    return utcnow().astimezone(VIETNAM).date()


def code_in(replies: list[dict[str, Any]]) -> str:
    found = re.search(r"DP-\d{6}", texts(replies))
    assert found is not None, texts(replies)
    return found.group(0)


async def host_joins(client: TestClient, stay: str) -> ChatSession:
    assistant = client.app[ASSISTANT]
    async with assistant.database.session() as session:
        code = await create_host_invite(session, assistant.services.hasher, stay, created_by="test",
                                        commune=assistant.services.commune.code)
    host = await ChatSession.open(client)
    joined = texts(await host.say(f"/join {code}"))
    assert "/bookings" in joined, joined
    return host


async def booking_of(client: TestClient, code: str) -> Booking:
    async with client.app[ASSISTANT].database.session() as session:
        booking = await bookings.by_code(session, code)
        assert booking is not None
        return booking


async def held_nights(database: Database, stay: str) -> list[dt.date]:
    async with database.session() as session:
        return list(await session.scalars(select(StayNight.night).where(StayNight.stay_id == stay)
                                          .order_by(StayNight.night)))


@pytest.fixture
def settings(settings: Settings, localstripe_url: str, tmp_path: Path) -> Settings:
    return every_provider(settings, localstripe_url, tmp_path).model_copy(update={"tts_engine": "espeak"})


async def finds_hears_and_opens_the_page(client: TestClient, chat: ChatSession, question: str, place: str,
                                         lang: str, says: str) -> None:
    """A place found from the visitor's question, its story heard («🔊 Nghe» gives a voice to play), and
    the audio-guide page its poster's QR opens, with its own voice."""
    themes = await chat.say(question)
    assert "tour:theme:history" in button_data(themes), texts(themes)
    card = await chat.press(f"tour:place:{place}")
    page_link = next(b["url"] for r in card for b in r["buttons"] if b["data"] == f"tour:page:{place}")
    assert page_link.endswith(f"/places/{place}?lang={lang}"), page_link
    story = await chat.press(f"tour:story:{place}")
    assert says in texts(story), texts(story)
    heard = await chat.press(next(d for d in button_data(story) if d.startswith("listen:")))
    audio = urlsplit(heard[0]["audio_url"])
    voice = await client.get(f"{audio.path}?{audio.query}")
    assert voice.status == 200 and len(await voice.read()) > 1000, heard
    page = await client.get(urlsplit(page_link).path + f"?lang={lang}")
    assert page.status == 200 and says in await page.text()
    assert (await client.get(f"/places/{place}/audio?lang={lang}")).status == 200


@pytest.fixture
async def client(settings: Settings, database: Database, nlu_engine: NLUEngine,
                 localstripe_url: str) -> AsyncIterator[TestClient]:
    """The whole service with card and VietQR deposits, localstripe posting its events to our webhook."""
    async with served_with_webhook(settings, database, nlu_engine, localstripe_url) as test_client:
        yield test_client


async def test_an_english_visitor_books_pays_the_deposit_by_card_and_the_host_confirms(
        client: TestClient, buyer: stripe.StripeClient) -> None:
    host = await host_joins(client, HOUSE)
    visitor = await ChatSession.open(client, language="en")
    await finds_hears_and_opens_the_page(client, visitor, "what to see around here", "tin_keo", "en",
                                         "6 December 1953")
    stays = await visitor.say("where can we stay tonight")
    assert "Sample stilt house" in texts(stays), texts(stays)
    shown = await visitor.press(f"stay:view:{HOUSE}")
    assert "600.000 đ a night" in texts(shown), texts(shown)
    assert "cancel 7 or more days ahead: 100% of the deposit back" in texts(shown), texts(shown)
    arrive = vn_today() + dt.timedelta(days=3)
    asked = await visitor.press(f"stay:book:{HOUSE}")
    assert f"stay:in:{arrive.isoformat()}" in button_data(asked), button_data(asked)
    nights = await visitor.press(f"stay:in:{arrive.isoformat()}")
    assert "How many nights" in texts(nights) and "stay:nights:2" in button_data(nights)
    guests = await visitor.say("2 nights")
    assert "How many guests" in texts(guests), texts(guests)
    await visitor.say("3")
    await visitor.say("Anna Smith")
    ways = await visitor.say("0912345678")
    assert button_data(ways)[:2] == ["stay:pay:vietqr", "stay:pay:stripe"], button_data(ways)
    summary = await visitor.press("stay:pay:stripe")
    text = texts(summary)
    assert "2 nights × 600.000 đ = 1.200.000 đ" in text and "Deposit: 360.000 đ (💳 Card)" in text, text
    confirm = next(data for data in button_data(summary) if data.startswith("stay:confirm:"))
    placed = await visitor.press(confirm)
    code = code_in(placed)
    link = next((b["url"] for r in placed for b in r["buttons"] if b.get("url")), None)
    assert link is not None and "/pay/" in link and "Pay the 360.000 đ deposit" in texts(placed), placed
    assert await held_nights(client.app[ASSISTANT].database, HOUSE) == [arrive, arrive + dt.timedelta(days=1)]

    page = await client.get(urlsplit(link).path)
    assert page.status == 200 and code in await page.text()
    async with client.app[ASSISTANT].database.session() as session:
        (payment,) = await ledger.payments_of(session, code)
    assert (payment.provider, payment.amount_vnd, payment.commune) == ("stripe", 360_000, "LB")
    await pay_by_card(buyer, payment.reference, GOOD_CARD)  # localstripe posts payment_intent.succeeded

    told = await pushed_with(client, visitor, "Deposit of 360.000 đ received")
    assert code in texts(told), texts(told)
    news = await pushed_with(client, host, f"host:confirm:{code}")
    assert "Anna Smith" in texts(news) and "0912345678" in texts(news) and "đã trả cọc" in texts(news)
    assert (await booking_of(client, code)).status == bookings.REQUESTED
    listed = await host.say("/bookings")
    assert code in texts(listed) and f"host:confirm:{code}" in button_data(listed)
    confirmed = await host.press(f"host:confirm:{code}")
    assert "Đã xác nhận" in texts(confirmed), texts(confirmed)
    assert "confirmed booking" in texts(await pushed_with(client, visitor, "confirmed booking"))
    assert (await booking_of(client, code)).status == bookings.CONFIRMED
    again = await host.press(f"host:confirm:{code}")  # a double press changes nothing
    assert "đã xác nhận" in texts(again) and (await booking_of(client, code)).confirmed_at is not None

    # Cancelled three days ahead: the rules give half the deposit back, refunded to the card at once.
    asked = await visitor.press(f"stay:cancel:{code}")
    assert "you get 180.000 đ of the 360.000 đ deposit back" in texts(asked), texts(asked)
    done = await visitor.press(f"stay:cancelok:{code}")
    assert "being refunded to your card" in texts(done), texts(done)
    assert "refunded to your card" in texts(await pushed_with(client, visitor, "was refunded to your card"))
    booking = await booking_of(client, code)
    assert booking.refund_vnd == 180_000 and booking.refunded_at is not None
    assert booking.refund_reference is not None and booking.refund_reference.startswith("re_")
    refunds = await buyer.v1.refunds.list_async({"payment_intent": payment.reference})
    assert [(refund.amount, refund.status) for refund in refunds.data] == [(180_000, "succeeded")]
    assert "Khách đã hủy" in texts(await pushed_with(client, host, "Khách đã hủy"))
    assert await held_nights(client.app[ASSISTANT].database, HOUSE) == []


async def test_a_villager_finds_hears_books_and_pays_the_deposit_by_card(
        client: TestClient, buyer: stripe.StripeClient) -> None:
    host = await host_joins(client, ROOM)
    villager = await ChatSession.open(client)
    await finds_hears_and_opens_the_page(client, villager, "di choi o dau", "suoi_kem", "vi", "Vực Thẳm")
    await villager.say("co homestay nao khong")
    await villager.press(f"stay:view:{ROOM}")
    await villager.press(f"stay:book:{ROOM}")
    arrive = vn_today() + dt.timedelta(days=20)
    await villager.say(f"{arrive.day}/{arrive.month}")
    await villager.say("1 dem")
    await villager.say("2")
    await villager.say("Đinh Thị Hoa")
    await villager.say("0912345678")
    summary = await villager.say("the ngan hang")  # the card button, typed
    assert "Tiền cọc: 105.000 đ (💳 Thẻ ngân hàng)" in texts(summary), texts(summary)
    placed = await villager.say("dong y")
    code = code_in(placed)
    assert "Trả cọc 105.000 đ bằng thẻ" in texts(placed), texts(placed)
    async with client.app[ASSISTANT].database.session() as session:
        (payment,) = await ledger.payments_of(session, code)
    await pay_by_card(buyer, payment.reference, GOOD_CARD)
    assert code in texts(await pushed_with(client, villager, "Đã nhận tiền cọc 105.000 đ"))
    await pushed_with(client, host, f"host:confirm:{code}")
    await host.press(f"host:confirm:{code}")
    assert "Chủ nhà đã xác nhận" in texts(await pushed_with(client, villager, "Chủ nhà đã xác nhận"))
    assert (await booking_of(client, code)).status == bookings.CONFIRMED


async def test_a_villager_types_everything_pays_by_vietqr_and_the_host_says_it_arrived(
        client: TestClient) -> None:
    host = await host_joins(client, ROOM)
    villager = await ChatSession.open(client)
    assert "Phòng đôi mẫu" in texts(await villager.say("toi muon dat phong"))
    card_ = await villager.say("phong doi mau")  # the stay's button, typed
    assert "350.000 đ/đêm" in texts(card_), texts(card_)
    await villager.say("dat phong")
    arrive = vn_today() + dt.timedelta(days=12)
    nights = await villager.say(f"ngay {arrive.day} thang {arrive.month}")
    assert "Bạn ở mấy đêm" in texts(nights), texts(nights)
    leave = arrive + dt.timedelta(days=2)
    guests = await villager.say(f"{leave.day}/{leave.month}")  # the check-out day typed
    assert "Bao nhiêu khách" in texts(guests), texts(guests)
    await villager.say("2 nguoi")
    await villager.say("nguyen van an")
    await villager.say("0912 345 678")
    summary = await villager.say("chuyen khoan")
    assert "2 đêm × 350.000 đ = 700.000 đ" in texts(summary) and "210.000 đ" in texts(summary), texts(summary)
    placed = await villager.say("dong y")
    code = code_in(placed)
    assert "Số tài khoản: 3100205123456" in texts(placed) and any(r.get("image_url") for r in placed), placed
    assert (await booking_of(client, code)).status == bookings.UNPAID

    news = await host.say("/bookings")
    assert f"host:received:{code}" in button_data(news) and "Nguyen Van An" in texts(news), texts(news)
    received = await host.press(f"host:received:{code}")
    assert f"host:confirm:{code}" in button_data(received), texts(received)
    told = await pushed_with(client, villager, "Đã nhận tiền cọc 210.000 đ")
    assert code in texts(told)
    await host.press(f"host:confirm:{code}")
    assert "Chủ nhà đã xác nhận" in texts(await pushed_with(client, villager, "Chủ nhà đã xác nhận"))
    async with client.app[ASSISTANT].database.session() as session:
        (payment,) = await ledger.payments_of(session, code)
    assert (payment.provider, payment.status, payment.reference) == ("vietqr", "succeeded", f"vietqr:{code}")

    # Cancelled eleven days ahead: the rules give the whole deposit back; the host is told.
    mine = await villager.say("huy dat phong")  # typed: their bookings, each with its cancel button
    assert f"stay:cancel:{code}" in button_data(mine)
    asked = await villager.press(f"stay:cancel:{code}")
    assert "được hoàn 210.000 đ trên 210.000 đ" in texts(asked), texts(asked)
    done = await villager.say("dong y")
    assert f"Đã hủy đặt phòng {code}" in texts(done), texts(done)
    cancelled = await pushed_with(client, host, f"host:refunded:{code}")
    assert "Tiền cọc phải hoàn cho khách: 210.000 đ" in texts(cancelled), texts(cancelled)
    refunded = await host.press(f"host:refunded:{code}")  # the host sent the transfer back
    assert "đã hoàn 210.000 đ" in texts(refunded), texts(refunded)
    assert "Chủ nhà đã chuyển lại 210.000 đ" in texts(await pushed_with(client, villager, "đã chuyển lại"))
    assert "không còn tiền cọc" in texts(await host.press(f"host:refunded:{code}"))  # once only
    assert await held_nights(client.app[ASSISTANT].database, ROOM) == []
    assert (await booking_of(client, code)).refund_vnd == 210_000


async def _to_dates(chat: ChatSession, stay: str) -> None:
    await chat.press(f"stay:view:{stay}")
    await chat.press(f"stay:book:{stay}")


async def books(chat: ChatSession, stay: str, arrive: dt.date | None, guests: int, name: str,
                provider: str = "vietqr") -> str:
    """Tapped from the stay's card to the confirmation (the day already chosen when `arrive` is None): one
    night, `guests`, the name and phone typed; the booking's code."""
    if arrive is not None:
        await _to_dates(chat, stay)
        await chat.press(f"stay:in:{arrive.isoformat()}")
    await chat.press("stay:nights:1")
    await chat.press(f"stay:guests:{guests}")
    await chat.say(name)
    await chat.say("0912345678")
    summary = await chat.press(f"stay:pay:{provider}")
    return code_in(await chat.press(next(d for d in button_data(summary) if d.startswith("stay:confirm:"))))


async def test_bad_input_is_answered_and_changes_nothing(client: TestClient) -> None:
    database = client.app[ASSISTANT].database
    villager = await ChatSession.open(client)
    await _to_dates(villager, ROOM)
    past = vn_today() - dt.timedelta(days=3)
    answer = await villager.press(f"stay:in:{past.isoformat()}")  # a forged past day
    assert "đã qua rồi" in texts(answer), texts(answer)
    answer = await villager.say("hom qua")
    assert "đã qua rồi" in texts(answer), texts(answer)
    answer = await villager.say("29/2")  # next year's, as the day has passed: and there is none
    assert "chưa hiểu ngày" in texts(answer) or "đặt trước tối đa" in texts(answer), texts(answer)
    answer = await villager.say("ngay 45 thang 13")
    assert "chưa hiểu ngày" in texts(answer), texts(answer)
    arrive = vn_today() + dt.timedelta(days=5)
    await villager.press(f"stay:in:{arrive.isoformat()}")
    before = arrive - dt.timedelta(days=1)
    answer = await villager.say(f"{before.day}/{before.month}")  # check-out before check-in
    assert "Ngày trả phòng phải sau ngày nhận phòng" in texts(answer), texts(answer)
    answer = await villager.say("30 dem")
    assert "tối đa 7 đêm" in texts(answer), texts(answer)
    await villager.say("1 dem")
    answer = await villager.say("0")
    assert "ít nhất 1 khách" in texts(answer), texts(answer)
    answer = await villager.say("100 nguoi")
    assert "tối đa 2 khách" in texts(answer), texts(answer)
    answer = await villager.say("2 nguoi lon, 1 tre em")  # added up: three is one too many here
    assert "tối đa 2 khách" in texts(answer), texts(answer)
    answer = await villager.press("stay:guests:100")  # forged
    assert "tối đa 2 khách" in texts(answer), texts(answer)
    await villager.say("2")
    await villager.say("Tran Thi Binh")
    await villager.say("0987654321")
    summary = await villager.press("stay:pay:vietqr")
    placed = await villager.press(next(d for d in button_data(summary) if d.startswith("stay:confirm:")))
    first = code_in(placed)

    # The night is sold out now: another guest cannot pick it, by button or typed, nor book over it.
    other = await ChatSession.open(client)
    await _to_dates(other, ROOM)
    assert f"stay:in:{arrive.isoformat()}" not in button_data(await other.press("stay:view:" + ROOM) +
                                                              await other.press(f"stay:book:{ROOM}"))
    answer = await other.press(f"stay:in:{arrive.isoformat()}")
    assert "đã có khách đặt" in texts(answer), texts(answer)
    answer = await other.say(f"{arrive.day}/{arrive.month}")
    assert "đã có khách đặt" in texts(answer), texts(answer)
    day_before = arrive - dt.timedelta(days=1)
    await other.say(f"{day_before.day}/{day_before.month}")
    answer = await other.say("3 dem")  # runs into the night that is taken
    assert "đã có khách đặt" in texts(answer), texts(answer)
    # Forged and someone else's buttons.
    assert "không tìm thấy" in texts(await other.press(f"stay:cancel:{first}")).lower()
    assert "không tìm thấy" in texts(await other.press(f"stay:cancelok:{first}")).lower()
    stranger = await ChatSession.open(client)
    assert "đã kết thúc" in texts(await stranger.press("stay:confirm:deadbeef")), "a confirm without a draft"
    assert "đã kết thúc" in texts(await stranger.press("stay:view:no_such_stay"))
    # A host confirming another stay's booking, and a villager pressing a host's button.
    host = await host_joins(client, HOUSE)
    answer = await host.press(f"host:confirm:{first}")
    assert f"Không tìm thấy đặt phòng {first}" in texts(answer), texts(answer)
    refused = await other.press(f"host:confirm:{first}")
    assert "host:confirm" not in texts(refused)
    booking = await booking_of(client, first)
    assert booking.status == bookings.UNPAID and booking.confirmed_at is None
    assert await held_nights(database, ROOM) == [arrive]
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Booking)) == 1


async def test_twenty_guests_racing_for_the_same_nights_get_one_booking(database: Database) -> None:
    cipher = FieldCipher(b"k" * 32)
    async with database.session() as session:
        users = [User(channel="web", external_id=f"racer-{n}") for n in range(20)]
        session.add_all(users)
        await session.flush()
        ids = [user.id for user in users]
    arrive = vn_today() + dt.timedelta(days=20)

    async def attempt(n: int) -> str:
        # Overlapping stays: each wants two nights, starting on one of two days.
        first = arrive + dt.timedelta(days=n % 2)
        request = Request(HOUSE, first, first + dt.timedelta(days=2), 2, 600_000, 360_000, "vietqr", "A",
                          "0912345678")
        try:
            async with database.session() as session:
                await book(session, cipher, request, commune="LB", user_id=ids[n], request_key=f"race-{n}",
                           status=bookings.UNPAID, hold_until=None)
        except NightTaken:
            return "taken"
        return "booked"

    outcomes = await asyncio.gather(*(attempt(n) for n in range(20)))
    assert outcomes.count("booked") == 1 and outcomes.count("taken") == 19, outcomes
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Booking)) == 1
        nights = list(await session.scalars(select(StayNight.night).order_by(StayNight.night)))
    assert len(nights) == 2 and nights[1] - nights[0] == dt.timedelta(days=1)


async def test_unpaid_holds_are_released_and_reminders_sent_once(client: TestClient) -> None:
    assistant = client.app[ASSISTANT]
    host = await host_joins(client, ROOM)
    guest = await ChatSession.open(client)
    arrive = vn_today() + dt.timedelta(days=1)
    for chat, stay in ((guest, ROOM), (await ChatSession.open(client), HOUSE)):
        await books(chat, stay, arrive, 2, "Le Van Cuong")
    async with assistant.database.session() as session:
        room, house = (await session.scalars(select(Booking).order_by(Booking.id))).all()
    await host.press(f"host:received:{room.code}")  # the room's deposit arrived; the house's never does
    await host.press(f"host:confirm:{room.code}")

    later = max(room.hold_until, house.hold_until) + dt.timedelta(minutes=1)  # both holds ran out
    assert await release_expired(assistant.database, assistant.services, assistant.kit.tourism, later) == 1
    assert (await booking_of(client, house.code)).cancelled_by == bookings.EXPIRED
    assert (await booking_of(client, room.code)).status == bookings.CONFIRMED
    assert await held_nights(assistant.database, HOUSE) == []
    async with assistant.database.session() as session:
        assert [p.status for p in await ledger.payments_of(session, house.code)] == [ledger.CANCELLED]

    eve = dt.datetime.combine(vn_today(), dt.time(9), tzinfo=VIETNAM)
    assert await send_reminders(assistant.database, assistant.services, assistant.kit.tourism, eve) == 1
    assert await send_reminders(assistant.database, assistant.services, assistant.kit.tourism, eve) == 0
    told = await pushed_with(client, guest, "Nhắc bạn: ngày mai")
    assert room.code in texts(told)
    assert "Le Van Cuong" in texts(await pushed_with(client, host, "Ngày mai"))
    early = dt.datetime.combine(vn_today(), dt.time(6), tzinfo=VIETNAM)
    assert await send_reminders(assistant.database, assistant.services, assistant.kit.tourism, early) == 0


async def test_erasure_cancels_coming_bookings_and_keeps_them_nameless(
        client: TestClient, buyer: stripe.StripeClient) -> None:
    guest = await ChatSession.open(client)
    code = await books(guest, HOUSE, vn_today() + dt.timedelta(days=9), 4, "Pham Thi Dung")
    carded = await books(guest, ROOM, vn_today() + dt.timedelta(days=9), 2, "Pham Thi Dung", "stripe")
    async with client.app[ASSISTANT].database.session() as session:
        (payment,) = await ledger.payments_of(session, carded)
    await pay_by_card(buyer, payment.reference, GOOD_CARD)
    await pushed_with(client, guest, "Đã nhận tiền cọc")
    await guest.say("/mydata")
    warned = await guest.press("mydata:delete")
    assert f"Đặt phòng {code}" in texts(warned) and f"Đặt phòng {carded}" in texts(warned), texts(warned)
    done = await guest.press(pressed(warned, "mydata:delete-confirm"))
    assert f"Đã hủy đặt phòng {code}" in texts(done), texts(done)
    booking = await booking_of(client, code)
    assert booking.status == bookings.CANCELLED and booking.name_enc is None and booking.user_id is None
    assert await held_nights(client.app[ASSISTANT].database, HOUSE) == []
    # Nine days ahead the rules give the whole card deposit back: refunded at Stripe after the erasure.
    for _ in range(100):
        refunded = await booking_of(client, carded)
        if refunded.refunded_at is not None:
            break
        await asyncio.sleep(0.1)
    assert refunded.refund_vnd == 105_000 and refunded.refunded_at is not None, refunded.refund_vnd
    refunds = await buyer.v1.refunds.list_async({"payment_intent": payment.reference})
    assert [refund.amount for refund in refunds.data] == [105_000]


async def test_the_migration_matches_the_models(database: Database) -> None:
    assert await schema_differences(database, "stay_") == []
    assert await schema_differences(database, "shop_payments") == []


async def test_forged_and_malformed_buttons_get_an_answer_and_change_nothing(client: TestClient) -> None:
    database = client.app[ASSISTANT].database
    host = await host_joins(client, ROOM)
    villager = await ChatSession.open(client)
    await _to_dates(villager, ROOM)  # a draft in progress: the forged presses must not break it
    forged = ["stay:in:2026-13-45", "stay:in:", "stay:in:99999-01-01", "stay:nights:abc", "stay:nights:-1",
              "stay:nights:0", "stay:guests:-1", "stay:guests:0", "stay:pay:cash", "stay:pay:../../x",
              "stay:confirm:", "stay:cancel:", "stay:cancel:'; DROP TABLE stay_bookings; --",
              "stay:cancelok:DP-999999", "stay:show:DP-000000", "stay:view:" + "x" * 50, "stay:nope",
              "host:confirm:DP-000001", "host:refunded:zz", "host:received:", "host:whatever"]
    for data in forged:
        for chat in (villager, host):
            answer = await chat.press(data)
            assert answer and all(reply["text"] for reply in answer), (data, answer)
    # The draft still asks for the check-in day, and nothing was written.
    again = await villager.press(f"stay:book:{ROOM}")
    assert any(d.startswith("stay:in:") for d in button_data(again)), texts(again)
    async with database.session() as session:
        assert await session.scalar(select(func.count()).select_from(Booking)) == 0
        assert await session.scalar(select(func.count()).select_from(StayNight)) == 0


async def test_staff_act_for_an_owner_not_on_xaso(client: TestClient) -> None:
    """The room has no host account: its notices go to the commune's staff with the owner's phone and the
    host's buttons; they say the transfer arrived and confirm. A stay that has a host is the host's to
    confirm; staff may still say its transfer reached the commune's account."""
    staff = await staff_joins(client)
    guest = await ChatSession.open(client)
    await _to_dates(guest, ROOM)
    today = vn_today()
    tonight = await guest.say("toi nay")  # typed: the hold still leaves an hour to pay
    assert "Bạn ở mấy đêm" in texts(tonight), texts(tonight)
    code = await books(guest, ROOM, None, 1, "Ma Van Kien")
    booking = await booking_of(client, code)
    assert booking.hold_until is not None
    assert booking.hold_until - utcnow() >= dt.timedelta(minutes=59)

    waiting = await pushed_with(client, staff, f"host:received:{code}")  # the room's owner is not on xaso
    assert "0900000002" in texts(waiting) and "chưa dùng Xã Số" in texts(waiting), texts(waiting)
    received = await staff.press(f"host:received:{code}")
    assert f"host:confirm:{code}" in button_data(received), texts(received)
    await staff.press(f"host:confirm:{code}")
    assert "Chủ nhà đã xác nhận" in texts(await pushed_with(client, guest, "Chủ nhà đã xác nhận"))

    await host_joins(client, HOUSE)  # the house has its host: staff cannot act for it
    house = await books(await ChatSession.open(client), HOUSE, today + dt.timedelta(days=4), 1, "Ma Thi Lien")
    # Its transfer reaches the commune's account, which staff see: they may say it arrived; the host confirms.
    await staff.press(f"host:received:{house}")
    assert (await booking_of(client, house)).status == bookings.REQUESTED
    assert f"Không tìm thấy đặt phòng {house}" in texts(await staff.press(f"host:confirm:{house}"))
    assert (await booking_of(client, house)).status == bookings.REQUESTED


async def test_a_card_payment_stuck_starting_is_released(client: TestClient) -> None:
    """The process of a card booking's turn died before the payment was recorded: after `STUCK_AFTER` the
    booking is cancelled and its nights freed."""
    assistant = client.app[ASSISTANT]
    arrive = vn_today() + dt.timedelta(days=30)
    async with assistant.database.session() as session:
        user = User(channel="web", external_id="stuck-guest")
        session.add(user)
        await session.flush()
        stuck = await book(session, assistant.services.cipher,
                           Request(HOUSE, arrive, arrive + dt.timedelta(days=1), 2, 600_000, 180_000,
                                   "stripe", "A", "0912345678"),
                           commune="LB", user_id=user.id, request_key="stuck", status=bookings.STARTING,
                           hold_until=utcnow() + dt.timedelta(hours=12))
        code = stuck.code
    soon = utcnow() + dt.timedelta(minutes=5)
    assert await release_expired(assistant.database, assistant.services, assistant.kit.tourism, soon) == 0
    later = utcnow() + bookings.STUCK_AFTER + dt.timedelta(minutes=1)
    assert await release_expired(assistant.database, assistant.services, assistant.kit.tourism, later) == 1
    assert (await booking_of(client, code)).cancelled_by == bookings.EXPIRED
    assert await held_nights(assistant.database, HOUSE) == []
