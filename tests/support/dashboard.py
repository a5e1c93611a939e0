"""Logging in to the staff dashboard the way staff do: `/dashboard` in the web chat, then the one-time
link pushed through the outbox."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from aiohttp.test_utils import TestClient

from backends.health.consults import ANSWERED, OPEN, Consult
from backends.onestop.store import Dossier
from backends.payments.ledger import CANCELLED, PENDING, SUCCEEDED, Payment
from bots.server import ASSISTANT
from core.identity import create_invite
from core.messages import Reply
from core.models import User, utcnow
from core.outbox import SendError
from tests.support.chat import ChatSession, deliver_pushes, texts

LINK = re.compile(r"https?://\S+/dashboard/login\?token=([A-Za-z0-9_-]+)")
HIDDEN = re.compile(r'name="csrf" value="([^"]+)"')


async def member(client: TestClient, role: str = "staff", commune: str | None = None) -> ChatSession:
    """A web chat user who joined with an invite for `role`; with `commune`, a user of that commune
    whose role is granted for it (the province's role: for every commune)."""
    assistant = client.app[ASSISTANT]
    granted = None if role == "province" else commune
    async with assistant.database.session() as session:
        code = await create_invite(session, assistant.services.hasher, role, created_by="test",
                                   commune=granted)
    chat = await ChatSession.open(client, commune=commune)
    await chat.say(f"/join {code}")
    return chat


async def login_token(client: TestClient, chat: ChatSession) -> str:
    """Asks for a link in chat and reads the token from the message pushed through the outbox."""
    replies = await chat.say("/dashboard")
    assert "đường dẫn" in texts(replies).lower(), texts(replies)
    assistant = client.app[ASSISTANT]
    await deliver_pushes(assistant)
    found = [LINK.search(message["text"]) for message in await chat.pushed()]
    tokens = [match.group(1) for match in found if match]
    assert tokens, "no login link was pushed"
    return tokens[-1]


async def open_link(client: TestClient, token: str, expect: int = 303) -> str:
    """Opens the login page and presses its button; returns the page's CSRF token after login."""
    form = await client.get(f"/dashboard/login?token={token}")
    assert form.status == 200, await form.text()
    csrf = HIDDEN.search(await form.text())
    assert csrf is not None
    response = await client.post("/dashboard/login", data={"token": token, "csrf": csrf.group(1)},
                                 allow_redirects=False)
    assert response.status == expect, (response.status, await response.text())
    if expect != 303:
        return ""
    page = await client.get("/dashboard")
    assert page.status == 200
    found = HIDDEN.search(await page.text())
    assert found is not None
    return found.group(1)


async def logged_in_staff(client: TestClient, role: str = "staff",
                          commune: str | None = None) -> tuple[ChatSession, str]:
    chat = await member(client, role, commune)
    return chat, await open_link(client, await login_token(client, chat))


async def known_data(client: TestClient) -> None:
    """Dossiers, consults and payments written straight to the database, and one telegram message
    waiting in the outbox (`dead-1`), for the figures the dashboard must show."""
    assistant = client.app[ASSISTANT]
    now = utcnow()
    today = now.date()
    async with assistant.database.session() as session:
        villager = User(channel="telegram", external_id="tg-1", language="vi")
        session.add(villager)
        await session.flush()
        for number, (status, due) in enumerate((
                ("received", today + dt.timedelta(days=3)), ("processing", today - dt.timedelta(days=2)),
                ("needs_info", today - dt.timedelta(days=1)), ("approved", today - dt.timedelta(days=5)),
                ("delivered", today), ("processing", today + dt.timedelta(days=1)))):
            session.add(Dossier(code=f"LB-2020-{number + 1:06d}", procedure_id="birth", user_id=villager.id,
                                status=status, values_enc="x", papers={}, submitted_at=now, due_date=due))
        # Answered just now, so that they are today's at any hour (even just after midnight in Vietnam).
        consults = ((OPEN, 20, None), (OPEN, 5, None), (ANSWERED, 10, 0), (ANSWERED, 6, 0))
        for status, age, answered in consults:
            answered_at = None if answered is None else now - dt.timedelta(minutes=answered)
            session.add(Consult(user_id=villager.id, who="self", age=40, symptoms_enc="x", since_enc="x",
                                status=status, created_at=now - dt.timedelta(minutes=age),
                                answered_at=answered_at))
        for reference, status, amount, provider in (("c1", SUCCEEDED, 50_000, "cash"),
                                                    ("s1", SUCCEEDED, 120_000, "stripe"),
                                                    ("c2", PENDING, 30_000, "cash"),
                                                    ("c3", CANCELLED, 10_000, "cash")):
            session.add(Payment(order_code=f"DH-{reference}", provider=provider, reference=reference,
                                amount_vnd=amount, status=status, created_at=now,
                                paid_at=now if status == SUCCEEDED else None))
        await assistant.services.outbox.enqueue(session, channel="telegram", chat_id="tg-1",
                                                reply=Reply("x"), key="dead-1", user_id=villager.id)


async def dead_letter_pending(client: TestClient, channel: str = "telegram") -> None:
    """Drains `channel`'s outbox once through a sender the platform refuses for good: what was
    pending becomes a dead letter."""
    class Blocked:
        name, per_chat_rate, global_rate = channel, float("inf"), float("inf")

        async def send(self, chat_id: str, reply: Reply, key: str) -> None:
            raise SendError("Forbidden: bot was blocked by the user", permanent=True)

    await client.app[ASSISTANT].services.outbox.drain_once(Blocked())


@dataclass(frozen=True)
class Held:
    """What a commune holds, open, in `commune_records`."""

    dossiers: tuple[str, ...]
    overdue: int  # the first ones of `dossiers` are past due
    reports: tuple[str, ...]
    orders: tuple[str, ...]
    consults: int
    hamlet: str

    @property
    def codes(self) -> tuple[str, ...]:
        return (*self.dossiers, *self.reports, *self.orders)


# Two communes' records (tests/bots/dashboard/test_dashboard_communes.py).
COMMUNE_RECORDS = {
    "LB": Held(("LB-2026-000001", "LB-2026-000002"), 1, ("PA-100001",), ("DH-100001",), 1, "kem"),
    "SM": Held(("SM-2026-000001", "SM-2026-000002", "SM-2026-000003"), 2, ("PA-200001", "PA-200002"),
               ("DH-200001", "DH-200002"), 2, "khuoi_meo"),
}


async def commune_records(client: TestClient) -> None:
    """For each commune of COMMUNE_RECORDS, written with its `commune` set: its open dossiers (the
    first `overdue` of them past due), open reports in one of its hamlets, open orders of a seller not
    on xaso (so listed by code), and consults waiting for a doctor."""
    from backends.reports.store import Report
    from backends.shop.orders import Order

    assistant = client.app[ASSISTANT]
    now = utcnow()
    today = now.date()
    async with assistant.database.session() as session:
        for commune, held in COMMUNE_RECORDS.items():
            villager = User(channel="telegram", external_id=f"tg-{commune}", language="vi", commune=commune)
            session.add(villager)
            await session.flush()
            for number, code in enumerate(held.dossiers):
                due = today - dt.timedelta(days=2) if number < held.overdue else today + dt.timedelta(days=3)
                session.add(Dossier(code=code, commune=commune, procedure_id="birth", user_id=villager.id,
                                    status="processing", values_enc="x", papers={}, submitted_at=now,
                                    due_date=due))
            for code in held.reports:
                session.add(Report(code=code, commune=commune, kind="road", hamlet_id=held.hamlet,
                                   description_enc="x", reporter_id=villager.id, channel="telegram",
                                   status="open", created_at=now))
            for code in held.orders:
                session.add(Order(code=code, commune=commune, request_key=f"key-{code}", user_id=villager.id,
                                  product_id="honey", seller_id=f"seller-{commune}", quantity_milli=1000,
                                  unit="kg", unit_price_vnd=100_000, subtotal_vnd=100_000, shipping_vnd=0,
                                  total_vnd=100_000, payment_provider="cash", status="new", created_at=now))
            for _ in range(held.consults):
                session.add(Consult(commune=commune, user_id=villager.id, who="self", age=40,
                                    symptoms_enc="x", since_enc="x", status=OPEN,
                                    created_at=now - dt.timedelta(minutes=5)))
            await assistant.services.outbox.enqueue(session, channel="telegram", chat_id=f"tg-{commune}",
                                                    reply=Reply("x"), key=f"dead-{commune}",
                                                    user_id=villager.id)
