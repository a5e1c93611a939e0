"""The villagers' side of announcements: subscribe by hamlet and topic (toggle buttons, saved at each
press, unsubscribe any time) and hear the latest ones, as text and voice."""

from __future__ import annotations

from backends.loudspeaker.store import AnnouncementSubscription, published, subscription_of
from bots.dialogue.base import Context
from bots.services.announcements.scheduler import (
    PUBLIC_FAMILY,
    audience_label,
    audio_for,
    hamlets,
    local_time,
    topic_label,
    topics,
)
from core.messages import Button, Reply

LATEST = 3


def _mark(on: bool) -> str:
    return "✅ " if on else "⬜ "


async def settings(context: Context) -> list[Reply]:
    row = await subscription_of(context.session, context.identity.id)
    return [_settings_reply(context, row)]


def _own_hamlets(context: Context, row: AnnouncementSubscription) -> list[str]:
    """The subscription's hamlets of the user's commune, in its order: one chosen before a move to
    another commune names no hamlet of this one."""
    own = hamlets(context.services)
    return [hamlet_id for hamlet_id in row.hamlets or [] if hamlet_id in own]


def _settings_reply(context: Context, row: AnnouncementSubscription | None, key: str | None = None) -> Reply:
    services = context.services
    active = row is not None and row.active
    chosen_hamlets = set(_own_hamlets(context, row)) if active and row else set()
    chosen_topics = set(row.topics or []) if active and row else set()
    buttons = [Button(_mark(hamlet_id in chosen_hamlets) + name, f"{PUBLIC_FAMILY}:hamlet:{hamlet_id}")
               for hamlet_id, name in hamlets(services).items()]
    buttons += [Button(_mark(item.id in chosen_topics) + topic_label(services, item.id, context.lang),
                       f"{PUBLIC_FAMILY}:topic:{item.id}") for item in topics(services)]
    buttons.append(Button(context.t("announce.button.done"), f"{PUBLIC_FAMILY}:done", means="yes"))
    if active:
        buttons.append(Button(context.t("announce.button.unsubscribe"), f"{PUBLIC_FAMILY}:off"))
    buttons.append(Button(context.t("announce.button.latest"), f"{PUBLIC_FAMILY}:latest"))
    if key is None:
        key = "announce.sub.active" if active else "announce.sub.intro"
    ordered = [hamlet_id for hamlet_id in hamlets(services) if hamlet_id in chosen_hamlets]
    text = context.t(key, hamlets=audience_label(services, ordered, context.lang) if ordered else "—",
                     topics=", ".join(topic_label(services, item.id, context.lang)
                                      for item in topics(services) if item.id in chosen_topics) or "—")
    return Reply(text, tuple(buttons))


async def _toggle(context: Context, kind: str, value: str) -> list[Reply]:
    services = context.services
    valid = set(hamlets(services)) if kind == "hamlet" else {item.id for item in topics(services)}
    if value not in valid:
        return [Reply(context.t("unknown_button"))]
    row = await subscription_of(context.session, context.identity.id)
    if row is None:
        row = AnnouncementSubscription(user_id=context.identity.id, hamlets=[], topics=[], active=False)
        context.session.add(row)
    if not row.active:
        # A first press subscribes; choosing a hamlet first means every topic until some are turned off
        # (but those one opts into: the daily tip).
        row.active = True
        row.hamlets = []
        every = [item.id for item in topics(context.services) if not item.opt_in]
        row.topics = every if kind == "hamlet" else []
    current = _own_hamlets(context, row) if kind == "hamlet" else list(row.topics)
    updated = [item for item in current if item != value] if value in current else [*current, value]
    if kind == "hamlet":
        row.hamlets = updated
    else:
        row.topics = updated
    await context.session.flush()
    context.audit("announce.subscription", subject=f"user:{context.identity.id}",
                  detail={"hamlets": len(row.hamlets), "topics": len(row.topics)})
    return [_settings_reply(context, row)]


# -- the `ann:<action>[:<argument>]` buttons (bots/services/announcements/unit.py)


async def hamlet(context: Context) -> list[Reply]:
    return await _toggle(context, "hamlet", context.pressed.arg)


async def topic(context: Context) -> list[Reply]:
    return await _toggle(context, "topic", context.pressed.arg)


async def off(context: Context) -> list[Reply]:
    row = await subscription_of(context.session, context.identity.id)
    if row is not None and row.active:
        row.active = False
        await context.session.flush()
        context.audit("announce.unsubscribe", subject=f"user:{context.identity.id}")
    return [Reply(context.t("announce.sub.off"), (Button(context.t("announce.button.resubscribe"),
                                                         f"{PUBLIC_FAMILY}:settings"),))]


async def done(context: Context) -> list[Reply]:
    row = await subscription_of(context.session, context.identity.id)
    chosen = _own_hamlets(context, row) if row is not None and row.active else []
    if row is None or not chosen or not row.topics:
        return [_settings_reply(context, row, "announce.sub.incomplete")]
    return [Reply(context.t("announce.sub.saved", hamlets=audience_label(context.services, chosen,
                                                                         context.lang),
                            topics=", ".join(topic_label(context.services, item, context.lang)
                                             for item in row.topics)),
                  (Button(context.t("announce.button.latest"), f"{PUBLIC_FAMILY}:latest"),
                   Button(context.t("button.menu"), "menu:help")))]


async def unknown(context: Context) -> list[Reply]:
    return [Reply(context.t("unknown_button"))]


async def latest(context: Context) -> list[Reply]:
    """The newest announcements of the user's commune for their hamlets (all of them when not
    subscribed), oldest of them first so that the newest ends the conversation."""
    row = await subscription_of(context.session, context.identity.id)
    chosen = _own_hamlets(context, row) if row is not None and row.active else []
    chosen_or_all = chosen or None
    found = await published(context.session, commune=context.services.commune.code, hamlets=chosen_or_all,
                            limit=LATEST)
    subscribe = Button(context.t("announce.button.settings"), f"{PUBLIC_FAMILY}:settings")
    if not found:
        return [Reply(context.t("announce.latest_none"), (subscribe,))]
    services = context.services
    replies = [Reply(context.t("announce.latest_item", topic=topic_label(services, item.topic, context.lang),
                               audience=audience_label(services, list(item.hamlets or []), context.lang),
                               at=local_time(item.published_at or item.publish_at), text=item.text,
                               code=item.code),
                     audio_url=audio_for(services, item, context.incoming.channel))
               for item in reversed(found)]
    last = replies[-1]
    replies[-1] = Reply(last.text, (subscribe,), audio_url=last.audio_url)
    return [Reply(context.t("announce.latest_head", count=len(found))), *replies]
