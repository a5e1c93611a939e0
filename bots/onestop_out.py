"""Dossier events sent to the provincial one-stop system (Standard Webhooks 1.0, SECURITY.md).

When `XASO_ONESTOP_WEBHOOK_URL` and `XASO_HOOK_SECRETS["onestop"]` are both set, every new dossier and
every status change is queued in the outbox in the same transaction as the change (a dossier event
listener, backends/onestop/store.py), under a key that is also the delivery's `webhook-id`. The sender
signs each attempt with a fresh timestamp and POSTs the JSON; the outbox retries what failed.

Only what the provincial system needs to follow the dossier leaves the commune: its commune's code,
its code, procedure, status, dates and the official's note. The citizen's form values stay here.
Changes the provincial system itself made (actor `system:onestop`) are not echoed back to it.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession

from backends.onestop.store import Dossier, DossierEvent, EventListener
from core.config import Settings
from core.messages import Reply
from core.outbox import Outbox, SendError
from core.security import sign_standard_webhook, webhook_secret_bytes

log = logging.getLogger(__name__)
CHANNEL = "onestop"
ACTOR = "system:onestop"
SEND_TIMEOUT = aiohttp.ClientTimeout(total=15)


def outbound_secret(settings: Settings) -> str | None:
    """The signing secret when sending is configured and the secret usable, else None."""
    secret = settings.hook_secrets.get(CHANNEL)
    if settings.onestop_webhook_url is None or secret is None:
        return None
    try:
        webhook_secret_bytes(secret.get_secret_value())
    except ValueError:
        log.error("XASO_HOOK_SECRETS['onestop'] is not whsec_ + base64: "
                  "nothing is sent to the one-stop system")
        return None
    return secret.get_secret_value()


def event_payload(dossier: Dossier, event: DossierEvent, previous: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"commune": dossier.commune, "code": dossier.code,
                            "procedure": dossier.procedure_id, "status": event.status}
    if previous is None:
        data.update(submitted_at=dossier.submitted_at.isoformat(), due_date=dossier.due_date.isoformat())
        kind = "dossier.created"
    else:
        data.update(previous=previous, note=event.note)
        kind = "dossier.status"
    return {"type": kind, "timestamp": event.at.isoformat(), "data": data}


def webhook_id(dossier: Dossier, event: DossierEvent) -> str:
    """Stable for the event (retries keep it), unique across dossiers and databases of one commune and
    across the communes of a province (the code carries the commune's)."""
    return f"msg_{dossier.code}.{event.id}"


def publisher(outbox: Outbox) -> EventListener:
    async def publish(session: AsyncSession, dossier: Dossier, event: DossierEvent,
                      previous: str | None) -> None:
        if event.actor == ACTOR:
            return
        body = json.dumps(event_payload(dossier, event, previous), ensure_ascii=False,
                          separators=(",", ":"), sort_keys=True)
        await outbox.enqueue(session, channel=CHANNEL, chat_id=CHANNEL, reply=Reply(body),
                             key=webhook_id(dossier, event))

    return publish


class OnestopSender:
    """The outbox's sender for the `onestop` channel: one signed POST per message. The HTTP session
    belongs to the server's lifecycle. 2xx is delivered; 429, 5xx and network errors are retried;
    any other answer is permanent (the message goes to the dead letters for staff to see)."""

    name = CHANNEL
    per_chat_rate = math.inf
    global_rate = 10.0

    def __init__(self, url: str, secret: str, session: aiohttp.ClientSession,
                 clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.secret = secret
        self.session = session
        self.clock = clock

    async def send(self, chat_id: str, reply: Reply, key: str) -> None:
        body = reply.text.encode()
        headers = sign_standard_webhook(key, int(self.clock()), body, self.secret)
        headers["Content-Type"] = "application/json"
        try:
            async with self.session.post(self.url, data=body, headers=headers, timeout=SEND_TIMEOUT,
                                         allow_redirects=False) as response:
                status = response.status
                retry_after = _seconds(response.headers.get("Retry-After"))
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise SendError(f"network: {type(error).__name__}") from None
        if 200 <= status < 300:
            return
        if status == 429 or status >= 500:
            raise SendError(f"http {status}", retry_after=retry_after)
        raise SendError(f"http {status}", permanent=True)


def _seconds(value: str | None) -> float | None:
    try:
        seconds = float(value) if value is not None else math.nan
    except ValueError:
        return None
    return min(seconds, 3600.0) if math.isfinite(seconds) and seconds >= 0 else None


def make_sender(settings: Settings, session: aiohttp.ClientSession) -> OnestopSender | None:
    secret = outbound_secret(settings)
    if secret is None or settings.onestop_webhook_url is None:
        return None
    return OnestopSender(settings.onestop_webhook_url, secret, session)
