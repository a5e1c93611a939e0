"""Alembic environment. `core.db.Database.upgrade` passes its own connection; the `alembic`
command line builds one from XASO_DATABASE_URL."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

import backends.addresses.store  # address_codes
import backends.health.appointments  # health_appointments, health_roster_links
import backends.health.consults  # health_consults, health_consult_messages, health_emergencies
import backends.loudspeaker.store  # announcements, announcement_subscriptions, spoken_texts
import backends.onestop.answers  # dossier_answers joins Base.metadata for autogenerate
import backends.onestop.ratings  # dossier_ratings
import backends.onestop.store  # dossiers, their history and codes
import backends.reports.store  # village_reports, village_report_links, village_report_events
import backends.shop.orders  # shop_stock, shop_orders
import backends.shop.payments.ledger  # shop_payments, shop_payment_events
import backends.shop.sellers  # noqa: F401  (shop_seller_invites, shop_seller_accounts)
import bots.dashboard.store  # dashboard_login_links, dashboard_sessions
import bots.telegram.inbox  # noqa: F401
import core.signing.store  # noqa: F401  (signed_documents)
from bots.zalo import models as zalo_models  # noqa: F401  (zalo_inbox, zalo_tokens, zalo_buttons, …)
from core.models import Base

target_metadata = Base.metadata


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_from_settings() -> None:
    from core.config import Settings
    from core.db import Database

    database = Database(Settings().database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(run_with)
    await database.close()


given = context.config.attributes.get("connection")
if given is not None:
    run_with(given)
else:
    asyncio.run(run_from_settings())
