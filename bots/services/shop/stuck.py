"""Orders left STARTING: their payment was to be started at a remote provider once their turn had
committed (bots/services/shop/desk.py), but the process died first, or the step failed. Nothing was
shown to the buyer that could take money (the pay link comes with the recorded payment), so after a
while well past any provider's timeout the shop's task cancels each one: the stock goes back, the
buyer is told to order again. The seller never heard of it. The task runs once per commune, on that
commune's orders.
"""

from __future__ import annotations

import datetime as dt
import logging

from backends.payments import ledger
from backends.shop.catalogue import ShopCatalogue
from backends.shop.orders import CANCELLED, STARTING, move, release, starting_since
from bots.dialogue.base import Services
from bots.dialogue.service import TaskEnvironment, TaskRun, periodic
from bots.services.shop.notify import ReplyFor, tell_user
from core.db import Database
from core.models import utcnow

log = logging.getLogger(__name__)
STUCK_AFTER = dt.timedelta(minutes=10)  # Stripe's calls time out after 10 s, retried once
INTERVAL = 60.0


async def cancel_stuck(database: Database, services: Services, shop: ShopCatalogue,
                       now: dt.datetime | None = None) -> list[str]:
    """Cancels the orders STARTING for longer than STUCK_AFTER; returns their codes."""
    now = now or utcnow()
    cancelled: list[str] = []
    async with database.session() as session:
        for order in await starting_since(session, now - STUCK_AFTER, services.commune.code):
            if not await move(session, order, (STARTING,), CANCELLED, now):
                continue  # its step finished meanwhile
            await release(session, order.product_id, order.quantity_milli)
            await ledger.cancel_pending(session, order.code)  # none, unless recorded by hand
            notice = ReplyFor(services, shop, order, "shop.notify.not_started",
                              buttons=(("shop.button.categories", "shop:browse"),))
            await tell_user(services, session, order.user_id, notice, f"shop-not-started:{order.code}")
            cancelled.append(order.code)
    for code in cancelled:  # once committed
        log.warning("order %s was left starting its payment: cancelled", code)
        await services.audit.record("system", "shop.order", subject=f"order:{code}", outcome="not_started")
    return cancelled


def task(shop: ShopCatalogue) -> TaskRun:
    """The shop's background task: orders left starting their payment, every `INTERVAL` seconds."""
    async def once(environment: TaskEnvironment) -> None:
        await cancel_stuck(environment.database, environment.services, shop)

    return periodic(once, failing="orders left starting could not be checked", interval=INTERVAL)
