from __future__ import annotations

import asyncio

from backends.payments import CashOnDelivery, PaidEvent, PaymentRequest, Payments, PaymentStart
from backends.payments.ledger import cancel_pending, first_delivery, payments_of, record, settle
from core.db import Database


async def test_a_payment_is_settled_exactly_once_even_when_confirmations_race(database: Database) -> None:
    payments = Payments([CashOnDelivery()])
    heard: list[PaidEvent] = []

    async def listener(session, event: PaidEvent) -> None:
        heard.append(event)

    payments.on_paid(listener)
    start = await CashOnDelivery().start(PaymentRequest("DH-000001", 250_000, "Chè", "order-1"))
    assert start == PaymentStart(provider="cash", reference="cash:DH-000001")
    async with database.session() as session, session.begin():
        await record(session, "DH-000001", 250_000, start)
        again = await record(session, "DH-000001", 250_000, start)
    assert again.reference == start.reference

    async def confirm(who: str) -> PaidEvent | None:
        async with database.session() as session, session.begin():
            return await settle(session, payments, start.reference, confirmed_by=who)

    results = await asyncio.gather(*(confirm(f"user:{n}") for n in range(4)))
    assert sum(result is not None for result in results) == 1
    assert len(heard) == 1 and heard[0].order_code == "DH-000001" and heard[0].amount_vnd == 250_000
    async with database.session() as session:
        (payment,) = await payments_of(session, "DH-000001")
    assert payment.status == "succeeded" and payment.paid_at is not None


async def test_a_wrong_amount_or_unknown_reference_settles_nothing(database: Database) -> None:
    payments = Payments()
    start = PaymentStart(provider="vietqr", reference="vietqr:DH-000002")
    async with database.session() as session, session.begin():
        await record(session, "DH-000002", 90_000, start)
        assert await settle(session, payments, start.reference, confirmed_by="x", amount_vnd=9_000) is None
        assert await settle(session, payments, "nope", confirmed_by="x") is None
        assert await cancel_pending(session, "DH-000002") == 1
        assert await settle(session, payments, start.reference, confirmed_by="x") is None


async def test_a_provider_event_is_handled_once(database: Database) -> None:
    async with database.session() as session, session.begin():
        assert await first_delivery(session, "evt_1") is True
        assert await first_delivery(session, "evt_1") is False
        assert await first_delivery(session, "evt_2") is True
