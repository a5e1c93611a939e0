"""First-start set-up: what a fresh installation needs before anyone can run it."""

from __future__ import annotations

import logging

from sqlalchemy import select

from bots.assistant import Assistant
from core.identity import create_invite
from core.models import Invite, UserRole, utcnow

log = logging.getLogger(__name__)


async def load_demo_data(assistant: Assistant) -> str | None:
    """On a fresh installation (no administrator, no open admin invite) makes an admin invite and
    prints it once, so that the operator can take the admin role with `/join CODE` in any channel.
    Returns the code when one was made."""
    async with assistant.database.session() as session:
        has_admin = (await session.execute(
            select(UserRole.user_id).where(UserRole.role == "admin").limit(1))).first()
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
