"""What the staff flow, the villagers' side and the scheduler share: topics and hamlets, the audio of an
announcement, and its publication to every matching subscriber through the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from backends.loudspeaker.store import Announcement, claim_due, subscribers_of
from bots.dialogue.base import Services
from bots.dialogue.notify import notify
from core.db import Database
from core.i18n import local
from core.media import media_url
from core.messages import Button, Reply
from core.models import User, utcnow
from core.province import commune_path
from core.timezones import VIETNAM

log = logging.getLogger(__name__)
# Announcement audio is public and its link is in the signed feed: it must outlive the 24 h of a
# personal link. A speaker that plays a year-old entry is not a concern; a dead link in a signature is.
AUDIO_LINK_LIFETIME = 400 * 24 * 3600
PUBLIC_FAMILY = "ann"  # the villagers' buttons (subscriptions, latest)
SIGNED_KIND = "announcement"


@dataclass(frozen=True, slots=True)
class Topic:
    id: str
    name: dict[str, str]
    opt_in: bool = False  # only for those who choose it (the daily digital-skills tip), not by default


@functools.lru_cache(maxsize=8)
def _topics_at(path: Path) -> tuple[Topic, ...]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    items = (loaded or {}).get("topics") or [{"id": "general", "name": {"vi": "Thông báo chung"}}]
    return tuple(Topic(str(item["id"]), {str(k): str(v) for k, v in item["name"].items()},
                       bool(item.get("opt_in", False))) for item in items)


@functools.lru_cache(maxsize=8)
def _presets_at(path: Path) -> dict[str, str]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    return {"tonight": "18:00", "tomorrow": "06:30", **((loaded or {}).get("presets") or {})}


def topics(services: Services) -> tuple[Topic, ...]:
    return _topics_at(_announcements_file(services))


def presets(services: Services) -> dict[str, str]:
    return _presets_at(_announcements_file(services))


def _announcements_file(services: Services) -> Path:
    """The commune's own topics when it has them (data/communes/<code>/), else the province's."""
    return commune_path(services.settings.data_dir, services.commune.code, "announcements.yml")


def hamlets(services: Services) -> dict[str, str]:
    """Hamlet id → name, in the order of commune.yml."""
    return {hamlet.id: hamlet.name for hamlet in services.commune.hamlets}


def topic_label(services: Services, topic_id: str, lang: str) -> str:
    for topic in topics(services):
        if topic.id == topic_id:
            return local(topic.name, lang)
    return topic_id


def audience_label(services: Services, hamlet_ids: list[str], lang: str) -> str:
    if not hamlet_ids:
        return services.catalogue.t("announce.audience.all", lang)
    names = hamlets(services)
    return ", ".join(names.get(item, item) for item in hamlet_ids)


def local_time(at: dt.datetime) -> str:
    return at.astimezone(VIETNAM).strftime("%H:%M %d/%m/%Y")


def audio_url(services: Services, media_id: str) -> str:
    return media_url(services.hasher, services.settings.public_url, media_id, lifetime=AUDIO_LINK_LIFETIME)


def audio_for(services: Services, announcement: Announcement, channel: str) -> str:
    """Telegram plays OGG/Opus as a voice note; everything else gets the MP3."""
    return audio_url(services, announcement.ogg_id if channel == "telegram" else announcement.mp3_id)


def notice(services: Services, announcement: Announcement, user: User) -> Reply:
    lang = user.language
    text = services.catalogue.t(
        "announce.notice", lang, commune=services.commune.name,
        topic=topic_label(services, announcement.topic, lang),
        audience=audience_label(services, list(announcement.hamlets or []), lang),
        at=local_time(announcement.published_at or announcement.publish_at), text=announcement.text,
        code=announcement.code)
    return Reply(text, (Button(services.catalogue.t("announce.button.settings", lang),
                               f"{PUBLIC_FAMILY}:settings"),),
                 audio_url=audio_for(services, announcement, user.channel))


def outbox_key(announcement: Announcement, user: User) -> str:
    return f"ann:{announcement.id}:{user.id}"


async def publish(session: AsyncSession, services: Services, announcement: Announcement) -> int:
    """Queues the announcement (of `services`' commune) for every matching subscriber of the commune, in
    the caller's transaction; a key per (announcement, user) makes a second call a no-op. Returns how
    many were queued now."""
    queued = 0
    commune = services.commune.code
    home = commune == services.settings.commune_code  # where users who chose no commune yet belong
    for user in await subscribers_of(session, announcement, commune=commune, home=home):
        if await notify(session, services, user, notice(services, announcement, user),
                        outbox_key(announcement, user), asks=False):
            queued += 1
    announcement.recipients = (announcement.recipients or 0) + queued
    await session.flush()
    return queued


@dataclass
class Scheduler:
    """Publishes scheduled announcements once their time comes (the server runs `run` once per commune,
    each with its commune's services: each publishes its own commune's)."""

    clock: Callable[[], dt.datetime] = field(default=utcnow)
    # Told of each publication audited here, outside the pipeline (the metrics' service counter).
    observe: Callable[[str, str, dict[str, Any] | None], None] | None = None

    async def publish_due(self, database: Database, services: Services) -> list[dict[str, Any]]:
        async with database.session() as session:
            published = []
            for announcement in await claim_due(session, self.clock(), commune=services.commune.code):
                count = await publish(session, services, announcement)
                published.append({"id": announcement.id, "code": announcement.code, "recipients": count})
        for item in published:  # once committed
            detail = {"code": item["code"], "recipients": item["recipients"]}
            await services.audit.record("system", "announce.published", subject=f"announcement:{item['id']}",
                                        detail=detail)
            if self.observe is not None:
                self.observe("announce.published", "ok", detail)
        if published:
            for channel in ("web", "telegram"):
                await services.outbox.wake(channel)
        return published

    async def run(self, database: Database, services: Services, stop: asyncio.Event,
                  interval: float = 15.0) -> None:
        while not stop.is_set():
            try:
                await self.publish_due(database, services)
            except Exception:
                log.exception("publishing scheduled announcements failed; retrying in %s s", interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

