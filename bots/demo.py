"""First-start set-up: what a fresh installation needs before anyone can run it."""

from __future__ import annotations

import logging

from sqlalchemy import select

from bots.assistant import Assistant
from core.identity import create_invite, users_with_role
from core.models import Invite, utcnow
from core.signing import create_commune_keys

log = logging.getLogger(__name__)


def ensure_signing_keys(assistant: Assistant) -> bool:
    """A fresh installation signs with a self-made commune CA (SECURITY.md) until the operator imports
    a licensed certificate with `xaso keys init --import-cert … --force`. True when keys were made.
    Called before `Assistant.start()` (bots/server.py), which would otherwise warn that there are none."""
    keys_dir = assistant.settings.var_dir / "keys"
    if assistant.services.keyring.signer is not None or (keys_dir / "signing.key").exists():
        return False
    create_commune_keys(keys_dir, assistant.settings.commune_name)
    assistant.services.keyring.load(keys_dir)
    log.warning("First start: made the commune's signing keys in %s (a self-made CA); back them up. "
                "A licensed CA's certificate replaces them with `xaso keys init --import-cert … --force`.",
                keys_dir)
    return True


async def load_demo_data(assistant: Assistant) -> str | None:
    """On a fresh installation (no administrator, no open admin invite) makes an admin invite and
    prints it once, so that the operator can take the admin role with `/join CODE` in any channel.
    Returns the code when one was made."""
    ensure_signing_keys(assistant)
    async with assistant.database.session() as session:
        has_admin = bool(await users_with_role(session, "admin"))
        open_invite = (await session.execute(
            select(Invite.id).where(Invite.role == "admin", Invite.used_at.is_(None),
                                    Invite.expires_at > utcnow()).limit(1))).first()
        if has_admin or open_invite:
            return None
        code = await create_invite(session, assistant.services.hasher, "admin", created_by="first-start")
    await assistant.services.audit.record("system", "role.invite", detail={"role": "admin"})
    log.warning("First start: send  /join %s  in any chat to become the administrator "
                "(single use, valid 7 days; make more with `xaso invite ROLE`).", code)
    return code
