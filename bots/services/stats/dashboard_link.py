"""`/dashboard` in chat: a staff member gets a one-time, short-lived login link to the web dashboard.

The role is checked in core (core/roles.py); the link goes out through the outbox as its own message,
and the answer in the conversation only says it was sent, so the token is not kept in the reply log."""

from __future__ import annotations

from bots.dashboard.store import Lifetimes, create_link
from bots.dialogue.base import Context
from bots.dialogue.notify import notify
from core.messages import Button, Reply
from core.models import User


async def dashboard_link(context: Context) -> list[Reply]:
    settings = context.services.settings
    lifetimes = Lifetimes.from_settings(settings)
    token = await create_link(context.session, context.services.hasher, context.identity.id, lifetimes)
    user = await context.session.get(User, context.identity.id)
    assert user is not None
    url = f"{settings.public_url.rstrip('/')}/dashboard/login?token={token}"
    minutes = round(lifetimes.link.total_seconds() / 60)
    key = f"dashboard-link:{context.services.hasher.digest(token)[:32]}"
    await notify(context.session, context.services, user,
                 Reply(context.t("dashboard.link.message", url=url, minutes=minutes),
                       (Button(context.t("dashboard.link.button"), "dashboard:login", url=url),)),
                 key)  # the link in the text for every channel, and as the message's one button
    context.audit("dashboard.link", outcome="ok", detail={"minutes": minutes})
    return [Reply(context.t("dashboard.link.sent", minutes=minutes))]
