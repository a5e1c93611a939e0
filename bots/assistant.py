"""The assistant assembled: database, NLU, policy pipeline, dialogue, outbox and audit, with an
explicit lifecycle. The server, the console and the tests all build it the same way."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp
import yaml

from backends.health.roster import Roster, load_roster
from backends.loudspeaker.tts import Speech, make_engine
from backends.onestop.calendar import WorkingCalendar, load_calendar
from backends.onestop.catalogue import ProcedureCatalogue, load_catalogue
from backends.onestop.store import listen
from backends.shop.catalogue import ShopCatalogue, load_shop
from backends.shop.orders import seed_stock
from backends.shop.payments.configured import configured_payments
from bots.dialogue import (
    account,
    address,
    announce,
    announce_public,
    dossier,
    dossier_answer,
    dossier_rating,
    dossier_staff,
    health,
    menu,
    shop,
    shop_notify,
    shop_seller,
)
from bots.dialogue import forms as form_flows
from bots.dialogue import listen as listen_button
from bots.dialogue.announcements import Scheduler
from bots.dialogue.base import Context, Dialogue, FlowHandler, Router, Services
from bots.dialogue.dashboard_link import register as register_dashboard_link
from bots.dialogue.deadletters import register as register_dead_letters
from bots.dialogue.dossier_result import result_signer
from bots.dialogue.forms import Forms
from bots.dialogue.report import register as register_reports
from bots.dialogue.report_staff import register as register_report_desk
from bots.dialogue.stats import register as register_stats
from bots.onestop_out import outbound_secret, publisher
from core.audit import AuditLog
from core.config import Settings
from core.crypto import FieldCipher, Hasher
from core.db import Database
from core.forms import load_forms
from core.i18n import Catalogue
from core.links import LinkPolicy
from core.messages import Incoming, Reply
from core.metrics import CountingAudit, Metrics
from core.middlewares import (
    AuditMessages,
    Deduplicate,
    EnqueueReplies,
    IdentifyAndAuthorize,
    InputLimits,
    RateLimit,
)
from core.outbox import Outbox, RetryPolicy
from core.pipeline import Outcome, Pipeline
from nlu.engine import NLUService
from nlu.rasa_http import LocalEngine, RasaNLU
from nlu.service import LocalNLU

if TYPE_CHECKING:
    from nlu.embedded import EmbeddedNLU

log = logging.getLogger(__name__)
# Channels whose replies are pushed through the outbox, with their outbox key prefix.
PUSHED_REPLY_PREFIXES = {"telegram": "tg", "zalo": "za", "zalobot": "zb"}


def build_router(nlu: NLUService, forms: Forms, procedures: ProcedureCatalogue,
                 calendar: WorkingCalendar, roster: Roster | None = None,
                 products: ShopCatalogue | None = None) -> Router:
    router = Router(nlu)
    # Flows first; the menu last, since it only fills in what no flow has claimed.
    form_flows.register(router, forms)
    account.register(router)
    dossier.register(router, forms, procedures, calendar)
    dossier_staff.register(router, procedures, approval_hooks=(result_signer(procedures),))
    dossier_answer.register(router)
    dossier_rating.register(router)
    register_dashboard_link(router)  # /dashboard: a login link to the web dashboard
    router.desks["health"] = health.register(router, forms, roster)
    register_reports(router)  # after health: a report describing a danger to life gets its 115 answer
    register_report_desk(router)
    register_stats(router)
    register_dead_letters(router)  # /deadletters and the admin:replay button
    announce.register(router)
    announce_public.register(router)
    router.desks["announce"] = Scheduler()
    listen_button.register(router)
    if products is not None:
        router.desks["shop"] = shop.register(router, products)
        shop_seller.register(router, products)  # after account: wraps /invite and /join for sellers
    menu.register(router)
    address.register(router)  # after menu: a shared location answers with its address code
    router.media["location"] = _emergency_place_first(router.desks["health"], router.media["location"])
    return router


def _emergency_place_first(desk: health.HealthDesk, otherwise: FlowHandler) -> FlowHandler:
    """A location shared just after an emergency goes to the doctors before anything else."""
    async def located(context: Context) -> list[Reply]:
        return await desk.located(context) or await otherwise(context)
    return located


def load_nlu(settings: Settings) -> EmbeddedNLU:
    """The embedded engine, whatever the backend: with Rasa it is the fallback and the emergency net."""
    from nlu.embedded import EmbeddedNLU

    engine = EmbeddedNLU.load_or_train(settings.data_dir / "nlu.yml", settings.var_dir / "nlu-model.joblib")
    engine.threshold = settings.nlu_threshold
    return engine


def nlu_service(settings: Settings, engine: LocalEngine, session: aiohttp.ClientSession | None,
                metrics: Metrics) -> NLUService:
    """The dialogue's NLU for ``XASO_NLU_BACKEND``; Rasa needs the HTTP session opened in ``start``."""
    if settings.nlu_backend != "rasa" or session is None:
        return LocalNLU(engine)
    return RasaNLU(settings.rasa_url, session, engine, timeout=settings.rasa_timeout,
                   threshold=settings.nlu_threshold,
                   on_fallback=lambda reason: metrics.nlu_fallbacks.labels(reason=reason).inc())


@dataclass
class Assistant:
    settings: Settings
    database: Database
    services: Services
    router: Router
    pipeline: Pipeline
    metrics: Metrics
    nlu_engine: LocalEngine
    nlu_session: aiohttp.ClientSession | None = None  # open between start() and close(), for Rasa

    @classmethod
    def build(cls, settings: Settings, nlu: EmbeddedNLU | None = None,
              database: Database | None = None) -> Assistant:
        database = database or Database(settings.database_url)
        engine = nlu or load_nlu(settings)
        catalogue = Catalogue.load(settings.data_dir / "i18n")
        secret = settings.secret()
        audit = AuditLog(database)
        cipher = FieldCipher(secret)
        hasher = Hasher(secret)
        commune = _load_commune(settings.data_dir)
        services = Services(
            settings=settings, catalogue=catalogue, nlu=engine,
            outbox=Outbox(database, RetryPolicy.from_settings(settings), cipher=cipher), audit=audit,
            hasher=hasher, cipher=cipher, commune=commune,
            forms=Forms(load_forms(settings.data_dir / "forms")),
            payments=configured_payments(settings, commune, hasher),
            speech=Speech(make_engine(settings.tts_engine), settings.var_dir / "tts-cache"),
        )
        own_host = urlsplit(settings.public_url).hostname
        links = LinkPolicy.load(settings.data_dir / "blocklist.yml")
        links = links.with_allowed(own_host) if own_host else links
        middlewares = (
            EnqueueReplies(services.outbox, PUSHED_REPLY_PREFIXES),
            Deduplicate(),
            RateLimit(catalogue, settings.rate_limit_per_minute, settings.rate_limit_burst),
            IdentifyAndAuthorize(catalogue, registered_only=frozenset({"web"})),
            InputLimits(catalogue, links, settings.max_text_chars),
            AuditMessages(),
        )
        procedures = load_catalogue(settings.data_dir / "procedures.yml")
        calendar = load_calendar(settings.data_dir / "holidays.yml")
        metrics = Metrics()
        # Until start() opens the HTTP session, even a Rasa deployment parses locally.
        local = nlu_service(settings, engine, None, metrics)
        roster = load_roster(settings.data_dir / "doctors.yml", calendar)  # appointments, duty order
        products = load_shop(settings.data_dir / "products.yml")
        router = build_router(local, services.forms, procedures, calendar, roster, products)
        # A settled payment (card webhook, transfer or cash confirmed) marks the order paid and tells
        # buyer and seller, in the settling transaction (bots/dialogue/shop_notify.py).
        services.payments.on_paid(shop_notify.paid_listener(services, products))
        scheduler = router.desks.get("announce")
        if isinstance(scheduler, Scheduler):  # scheduled publications are audited outside the pipeline
            scheduler.observe = metrics.count_audited
        dialogue = Dialogue(router, services, observe=lambda channel, intent, seconds, nlu:
                            metrics.observe_dialogue(channel, intent, seconds, nlu=nlu))
        pipeline = Pipeline(database, catalogue, middlewares, dialogue, CountingAudit(audit, metrics))
        # Dossier events go to the provincial one-stop system, when configured (bots/onestop_out.py).
        listen(database.sessionmaker, *([publisher(services.outbox)] if outbound_secret(settings) else []))
        return cls(settings, database, services, router, pipeline, metrics, engine)

    async def start(self, migrate: bool = True) -> None:
        if migrate:
            await self.database.upgrade()
        await self.services.audit.start()
        desk = self.router.desks.get("shop")
        if desk is not None:  # stock rows for new products; never resets what was sold
            async with self.database.session() as session:
                await seed_stock(session, desk.shop)
        self.services.keyring.load(self.settings.var_dir / "keys")
        if self.services.keyring.signer is None:
            # `xaso serve` makes them on its first start before this (bots/demo.py), unless demo data is off.
            log.warning("no signing keys in %s: approved results cannot be signed until an operator "
                        "runs `xaso keys init` (or starts `xaso serve` with XASO_LOAD_DEMO_DATA on)",
                        self.settings.var_dir / "keys")
        if self.settings.nlu_backend == "rasa" and self.nlu_session is None:
            self.nlu_session = aiohttp.ClientSession()
            self.router.nlu = nlu_service(self.settings, self.nlu_engine, self.nlu_session, self.metrics)

    async def close(self) -> None:
        if self.nlu_session is not None:
            self.router.nlu = LocalNLU(self.nlu_engine)
            await self.nlu_session.close()
            self.nlu_session = None
        await self.services.payments.close()
        await self.services.audit.close()
        await self.database.close()

    async def handle(self, incoming: Incoming) -> Outcome:
        started = time.perf_counter()
        outcome = await self.pipeline.handle(incoming)
        self.metrics.latency.labels(channel=incoming.channel).observe(time.perf_counter() - started)
        self.metrics.messages.labels(channel=incoming.channel, status=outcome.status).inc()
        return outcome


def _load_commune(data_dir: Path) -> dict[str, object]:
    path = data_dir / "commune.yml"
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    return loaded if isinstance(loaded, dict) else {}
