"""The assistant assembled: database, NLU, policy pipeline, dialogue, outbox and audit, with an
explicit lifecycle. The server, the console and the tests all build it the same way."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from bots.dialogue import account, menu
from bots.dialogue import forms as form_flows
from bots.dialogue.base import Dialogue, Router, Services
from bots.dialogue.forms import Forms
from core.audit import AuditLog
from core.config import Settings
from core.crypto import FieldCipher, Hasher
from core.db import Database
from core.forms import load_forms
from core.i18n import Catalogue
from core.links import LinkPolicy
from core.messages import Incoming
from core.metrics import Metrics
from core.middlewares import AuditMessages, Deduplicate, IdentifyAndAuthorize, InputLimits, RateLimit
from core.outbox import Outbox, RetryPolicy
from core.pipeline import Outcome, Pipeline
from nlu.engine import NLUEngine

log = logging.getLogger(__name__)


def build_router(nlu: NLUEngine, forms: Forms) -> Router:
    router = Router(nlu)
    # Flows first; the menu last, since it only fills in what no flow has claimed.
    form_flows.register(router, forms)
    account.register(router)
    menu.register(router)
    return router


def load_nlu(settings: Settings) -> NLUEngine:
    from nlu.embedded import EmbeddedNLU

    if settings.nlu_backend != "embedded":
        raise SystemExit(f"XASO_NLU_BACKEND={settings.nlu_backend} is not available yet; use 'embedded'")

    engine = EmbeddedNLU.load_or_train(settings.data_dir / "nlu.yml", settings.var_dir / "nlu-model.joblib")
    engine.threshold = settings.nlu_threshold
    return engine


@dataclass
class Assistant:
    settings: Settings
    database: Database
    services: Services
    router: Router
    pipeline: Pipeline
    metrics: Metrics

    @classmethod
    def build(cls, settings: Settings, nlu: NLUEngine | None = None,
              database: Database | None = None) -> Assistant:
        database = database or Database(settings.database_url)
        catalogue = Catalogue.load(settings.data_dir / "i18n")
        secret = settings.secret()
        audit = AuditLog(database)
        services = Services(
            settings=settings, catalogue=catalogue, nlu=nlu or load_nlu(settings),
            outbox=Outbox(database, RetryPolicy.from_settings(settings)), audit=audit,
            hasher=Hasher(secret), cipher=FieldCipher(secret), commune=_load_commune(settings.data_dir),
            forms=Forms(load_forms(settings.data_dir / "forms")),
        )
        own_host = urlsplit(settings.public_url).hostname
        links = LinkPolicy.load(settings.data_dir / "blocklist.yml")
        links = links.with_allowed(own_host) if own_host else links
        middlewares = (
            Deduplicate(),
            RateLimit(catalogue, settings.rate_limit_per_minute, settings.rate_limit_burst),
            IdentifyAndAuthorize(catalogue, registered_only=frozenset({"web"})),
            InputLimits(catalogue, links, settings.max_text_chars),
            AuditMessages(),
        )
        router = build_router(services.nlu, services.forms)
        dialogue = Dialogue(router, services)
        pipeline = Pipeline(database, catalogue, middlewares, dialogue, audit)
        return cls(settings, database, services, router, pipeline, Metrics())

    async def start(self, migrate: bool = True) -> None:
        if migrate:
            await self.database.upgrade()
        await self.services.audit.start()

    async def close(self) -> None:
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
