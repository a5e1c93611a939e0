"""The assistant assembled: database, NLU, policy pipeline, dialogue, outbox and audit, with an
explicit lifecycle. The server, the console and the tests all build it the same way."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from backends.loudspeaker.tts import Speech, make_engine
from backends.onestop.store import listen
from backends.payments.configured import configured_payments
from bots.channels.registry import pushed_reply_prefixes
from bots.dialogue.base import Dialogue, Local, Router, Services
from bots.dialogue.communes import CommuneGate
from bots.dialogue.forms import Forms
from bots.dialogue.service import Assembly, TaskEnvironment, check_i18n
from bots.onestop_out import outbound_secret, publisher
from bots.services.assembly import SERVICES, ServiceUnit
from bots.services.assembly import build as build_services
from bots.services.kit import Kit
from bots.services.shop import notify as shop_notify
from bots.services.tourism import notices as stay_notices
from core.audit import AuditLog
from core.audit_checkpoints import AuditCheckpoints
from core.commune import Commune
from core.config import Settings
from core.crypto import FieldCipher, Hasher
from core.db import Database
from core.forms import load_forms
from core.i18n import Catalogue
from core.identity import IdentityCache
from core.links import LinkPolicy
from core.messages import Incoming
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
from core.province import Province, commune_path, keys_dir
from core.signing import Keyring
from nlu.engine import NLUService
from nlu.rasa_http import LocalEngine, RasaNLU
from nlu.service import LocalNLU

if TYPE_CHECKING:
    from nlu.embedded import EmbeddedNLU

log = logging.getLogger(__name__)
# Channels whose replies are pushed through the outbox, with their outbox key prefix (each channel
# class declares its own: bots/channels/registry.py).
PUSHED_REPLY_PREFIXES = pushed_reply_prefixes()


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
    kit: Kit
    nlu_session: aiohttp.ClientSession | None = None  # open between start() and close(), for Rasa
    identities: IdentityCache | None = None  # who is writing, remembered between messages
    # The communes served (core/province.py), and each one's services: `services`, `kit` and `router`
    # above are the installation's own commune's (XASO_COMMUNE_CODE).
    province: Province | None = None
    communes: dict[str, CommuneLocal] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings, nlu: EmbeddedNLU | None = None,
              database: Database | None = None, units: Sequence[ServiceUnit] = SERVICES) -> Assistant:
        """`units`: the services to run, in order (bots/services/assembly.py lists them)."""
        database = database or Database(settings.database_url)
        engine = nlu or load_nlu(settings)
        catalogue = Catalogue.load(settings.data_dir / "i18n")
        secret = settings.secret()
        # The commune's key, loaded by start(), also signs the audit chain's head now and then (checkpoints).
        keyring = Keyring()
        audit = AuditLog(database, checkpoints=AuditCheckpoints(
            database, keyring, settings.commune_code, settings.audit_checkpoint_seconds))
        cipher = FieldCipher(secret)
        hasher = Hasher(secret)
        province = Province.load(settings)  # data/communes/<code>/commune.yml, checked once
        commune = province.home
        services = Services(
            settings=settings, catalogue=catalogue, nlu=engine,
            outbox=Outbox(database, RetryPolicy.from_settings(settings), cipher=cipher,
                          lease=settings.lease_seconds), audit=audit,
            hasher=hasher, cipher=cipher, commune=commune, keyring=keyring,
            forms=Forms(load_forms(settings.data_dir / "forms")),
            payments=configured_payments(settings, commune, hasher),
            speech=Speech(make_engine(settings.tts_engine), settings.var_dir / "tts-cache"),
        )
        own_host = urlsplit(settings.public_url).hostname
        links = LinkPolicy.load(settings.data_dir / "blocklist.yml")
        links = links.with_allowed(own_host) if own_host else links
        kit = Kit.load(settings.data_dir, services.forms, commune.code)
        assembly = build_services(kit, units)
        check_i18n(assembly, catalogue.keys, catalogue.languages)
        identities = IdentityCache()
        metrics = Metrics(assembly.events)
        middlewares = (
            EnqueueReplies(services.outbox, PUSHED_REPLY_PREFIXES),
            Deduplicate(),
            RateLimit(catalogue, settings.rate_limit_per_minute, settings.rate_limit_burst),
            # Where the installation serves one commune, everyone belongs to it from the start.
            IdentifyAndAuthorize(catalogue, assembly.access, registered_only=frozenset({"web"}),
                                 identities=identities, commune=None if province.several else commune.code),
            InputLimits(catalogue, links, settings.max_text_chars, assembly.link_refused),
            AuditMessages(),
        )
        # Until start() opens the HTTP session, even a Rasa deployment parses locally.
        router = Router(nlu_service(settings, engine, None, metrics), assembly)
        communes = {commune.code: CommuneLocal(router, services, kit)}
        for other in province:
            if other.code not in communes:
                communes[other.code] = _local(settings, other, services, units, router.nlu, hasher)
        # A settled payment (card webhook, transfer or cash confirmed) marks the order paid and tells
        # buyer and seller in its own commune's words, in the settling transaction, whichever commune's
        # payments settled it (bots/services/shop/notify.py).
        paid = shop_notify.paid_listener({code: (local.services, local.kit.products)
                                          for code, local in communes.items()})
        # A homestay deposit settled: the booking waits for its host, told with its guest (notices.py).
        deposit_paid = stay_notices.paid_listener({code: (local.services, local.kit.tourism)
                                                   for code, local in communes.items()})
        for local in communes.values():
            local.services.payments.on_paid(paid, orders=shop_notify.ORDERS)
            local.services.payments.on_paid(deposit_paid, orders=stay_notices.BOOKINGS)
        dialogue = Dialogue(router, services, observe=lambda channel, intent, seconds, nlu:
                            metrics.observe_dialogue(channel, intent, seconds, nlu=nlu),
                            communes={code: Local(local.router, local.services)
                                      for code, local in communes.items()},
                            gate=CommuneGate(province, catalogue))
        pipeline = Pipeline(database, catalogue, middlewares, dialogue, CountingAudit(audit, metrics))
        # Dossier events go to the provincial one-stop system, when configured (bots/onestop_out.py).
        listen(database.sessionmaker, *([publisher(services.outbox)] if outbound_secret(settings) else []))
        return cls(settings, database, services, router, pipeline, metrics, engine, kit,
                   identities=identities, province=province, communes=communes)

    async def start(self, migrate: bool = True) -> None:
        if migrate:
            await self.database.upgrade()
        await self.services.audit.start()
        for local in self.locals():
            for service in local.router.assembly.services:
                for prepare in service.on_start:
                    await prepare(self.database)
        for local in self.locals():
            code = local.services.commune.code
            folder = keys_dir(self.settings.var_dir, code, self.settings.commune_code)
            local.services.keyring.load(folder)
            if local.services.keyring.signer is None:
                # `xaso serve` makes them on its first start before this (bots/demo.py), unless demo
                # data is off.
                log.warning("no signing keys for commune %s in %s: approved results cannot be signed until "
                            "an operator runs `xaso keys init` (or starts `xaso serve` with "
                            "XASO_LOAD_DEMO_DATA on)", code, folder)
        if self.settings.nlu_backend == "rasa" and self.nlu_session is None:
            self.nlu_session = aiohttp.ClientSession()
            rasa = nlu_service(self.settings, self.nlu_engine, self.nlu_session, self.metrics)
            for local in self.locals():
                local.router.nlu = rasa

    @property
    def assembly(self) -> Assembly:
        return self.router.assembly

    def locals(self) -> list[CommuneLocal]:
        """Each served commune's part, the installation's own first."""
        return list(self.communes.values()) or [CommuneLocal(self.router, self.services, self.kit)]

    def background(self, stop: asyncio.Event) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        """The services' background loops (consult escalation, scheduled announcements) by name, run
        by the server until `stop` is set."""
        loops: list[tuple[str, Coroutine[Any, Any, None]]] = []
        for local in self.locals():
            # Each commune's tasks work on its own records (a consult's escalation to its doctors).
            environment = TaskEnvironment(self.database, local.services, self.metrics.count_audited)
            suffix = f"@{local.services.commune.code}" if len(self.communes) > 1 else ""
            loops += [(f"{task.name}{suffix}", task.run(environment, stop))
                      for task in local.router.assembly.tasks]
        if self.identities is not None:  # forgets identities another node or a command changed
            loops.append(("identity-cache", self.identities.watch(self.database.session, stop)))
        if (checkpoints := self.services.audit.checkpoints) is not None:
            loops.append(("audit-checkpoints", checkpoints.run(stop)))  # the last one at close()
        return loops

    async def close(self) -> None:
        if self.nlu_session is not None:
            for local in self.locals():
                local.router.nlu = LocalNLU(self.nlu_engine)
            await self.nlu_session.close()
            self.nlu_session = None
        for local in self.locals():
            await local.services.payments.close()
        await self.services.audit.close()
        await self.database.close()

    async def handle(self, incoming: Incoming) -> Outcome:
        started = time.perf_counter()
        outcome = await self.pipeline.handle(incoming)
        self.metrics.latency.labels(channel=incoming.channel).observe(time.perf_counter() - started)
        self.metrics.messages.labels(channel=incoming.channel, status=outcome.status).inc()
        return outcome


@dataclass(frozen=True)
class CommuneLocal:
    """One served commune's services (`services.commune` is it), routing tables and catalogues."""

    router: Router
    services: Services
    kit: Kit


def _local(settings: Settings, commune: Commune, home: Services, units: Sequence[ServiceUnit],
           nlu: NLUService, hasher: Hasher) -> CommuneLocal:
    """Another commune of the province: the installation's services with its own data (its hamlets,
    office, station, bank account, doctors, products, procedure overrides)."""
    payments = configured_payments(settings, commune, hasher)
    # Its own forms: each commune's services register what finishes a form (a consult, a dossier).
    forms = Forms(load_forms(commune_path(settings.data_dir, commune.code, "forms")))
    services = dataclasses.replace(home, commune=commune, payments=payments, keyring=Keyring(), forms=forms)
    kit = Kit.load(settings.data_dir, forms, commune.code)
    return CommuneLocal(Router(nlu, build_services(kit, units)), services, kit)
