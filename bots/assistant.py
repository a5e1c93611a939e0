"""The assistant assembled: database, NLU, policy pipeline, dialogue, outbox and audit, with an
explicit lifecycle. The server, the console and the tests all build it the same way."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from backends.loudspeaker.tts import Speech, make_engine
from backends.onestop.store import listen
from backends.shop.payments.configured import configured_payments
from bots.channels.registry import pushed_reply_prefixes
from bots.dialogue.base import Dialogue, Router, Services
from bots.dialogue.forms import Forms
from bots.dialogue.service import Assembly, TaskEnvironment, check_i18n
from bots.onestop_out import outbound_secret, publisher
from bots.services.assembly import SERVICES, ServiceUnit
from bots.services.assembly import build as build_services
from bots.services.kit import Kit
from bots.services.shop import notify as shop_notify
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
        commune = _load_commune(settings.data_dir)
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
        kit = Kit.load(settings.data_dir, services.forms)
        assembly = build_services(kit, units)
        check_i18n(assembly, catalogue.keys, catalogue.languages)
        identities = IdentityCache()
        middlewares = (
            EnqueueReplies(services.outbox, PUSHED_REPLY_PREFIXES),
            Deduplicate(),
            RateLimit(catalogue, settings.rate_limit_per_minute, settings.rate_limit_burst),
            IdentifyAndAuthorize(catalogue, assembly.access, registered_only=frozenset({"web"}),
                                 identities=identities),
            InputLimits(catalogue, links, settings.max_text_chars),
            AuditMessages(),
        )
        metrics = Metrics(assembly.events)
        # Until start() opens the HTTP session, even a Rasa deployment parses locally.
        router = Router(nlu_service(settings, engine, None, metrics), assembly)
        # A settled payment (card webhook, transfer or cash confirmed) marks the order paid and tells
        # buyer and seller, in the settling transaction (bots/services/shop/notify.py).
        services.payments.on_paid(shop_notify.paid_listener(services, kit.products))
        dialogue = Dialogue(router, services, observe=lambda channel, intent, seconds, nlu:
                            metrics.observe_dialogue(channel, intent, seconds, nlu=nlu))
        pipeline = Pipeline(database, catalogue, middlewares, dialogue, CountingAudit(audit, metrics))
        # Dossier events go to the provincial one-stop system, when configured (bots/onestop_out.py).
        listen(database.sessionmaker, *([publisher(services.outbox)] if outbound_secret(settings) else []))
        return cls(settings, database, services, router, pipeline, metrics, engine, kit,
                   identities=identities)

    async def start(self, migrate: bool = True) -> None:
        if migrate:
            await self.database.upgrade()
        await self.services.audit.start()
        for service in self.assembly.services:
            for prepare in service.on_start:
                await prepare(self.database)
        self.services.keyring.load(self.settings.var_dir / "keys")
        if self.services.keyring.signer is None:
            # `xaso serve` makes them on its first start before this (bots/demo.py), unless demo data is off.
            log.warning("no signing keys in %s: approved results cannot be signed until an operator "
                        "runs `xaso keys init` (or starts `xaso serve` with XASO_LOAD_DEMO_DATA on)",
                        self.settings.var_dir / "keys")
        if self.settings.nlu_backend == "rasa" and self.nlu_session is None:
            self.nlu_session = aiohttp.ClientSession()
            self.router.nlu = nlu_service(self.settings, self.nlu_engine, self.nlu_session, self.metrics)

    @property
    def assembly(self) -> Assembly:
        return self.router.assembly

    def background(self, stop: asyncio.Event) -> list[tuple[str, Coroutine[Any, Any, None]]]:
        """The services' background loops (consult escalation, scheduled announcements) by name, run
        by the server until `stop` is set."""
        environment = TaskEnvironment(self.database, self.services, self.metrics.count_audited)
        loops = [(task.name, task.run(environment, stop)) for task in self.assembly.tasks]
        if self.identities is not None:  # forgets identities another node or a command changed
            loops.append(("identity-cache", self.identities.watch(self.database.session, stop)))
        if (checkpoints := self.services.audit.checkpoints) is not None:
            loops.append(("audit-checkpoints", checkpoints.run(stop)))  # the last one at close()
        return loops

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


def _load_commune(data_dir: Path) -> Commune:
    """data/commune.yml, parsed and checked once: a bad key stops the start, naming the file and key."""
    return Commune.load(data_dir / "commune.yml")
