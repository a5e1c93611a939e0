"""First-start set-up: what a fresh installation needs before anyone can run it."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select

from bots.assistant import Assistant
from bots.dialogue.base import Services
from core.identity import create_invite, users_with_role
from core.models import Invite, utcnow
from core.province import COMMUNES_DIR, keys_dir
from core.signing import (
    KeysMissing,
    ProvinceCA,
    create_commune_keys,
    create_province_ca,
    issue_commune_keys,
    load_province_ca,
    province_keys_dir,
)
from core.signing.keys import SIGNING_KEY, province_ca_name

log = logging.getLogger(__name__)


def ensure_signing_keys(assistant: Assistant) -> bool:
    """A fresh installation signs with a self-made commune CA (SECURITY.md) until the operator imports
    a licensed certificate with `xaso keys init --import-cert … --force`; a province's (XASO_COMMUNES)
    with a self-made province CA that certifies each served commune lacking keys (`xaso keys issue`).
    True when keys were made. Called before `Assistant.start()` (bots/server.py), which would otherwise
    warn that there are none."""
    settings = assistant.settings
    missing = [local.services for local in assistant.locals() if local.services.keyring.signer is None
               and not (_keys_dir(assistant, local.services) / SIGNING_KEY).exists()]
    if not missing:
        return False
    alone = len(assistant.locals()) == 1
    province = assistant.services.commune.province
    if alone or not province:
        for services in missing:  # a commune's own CA, as a commune's installation has it
            folder = _keys_dir(assistant, services)
            name = settings.commune_name if alone else services.commune.name
            create_commune_keys(folder, name)
            services.keyring.load(folder)
            log.warning("First start: made the commune's signing keys in %s (%s, a self-made CA); back them "
                        "up. A licensed CA's certificate replaces them with `xaso keys init --import-cert … "
                        "--force`.", folder, name)
        return True
    ca = _province_ca(settings.var_dir, province_ca_name(province), province)
    for services in missing:
        folder = settings.var_dir / "keys" / COMMUNES_DIR / services.commune.code
        issue_commune_keys(folder, ca, services.commune.name)
        services.keyring.load(_keys_dir(assistant, services))
        log.warning("First start: the province CA certified the signing key of %s in %s.",
                    services.commune.name, folder)
    return True


def _keys_dir(assistant: Assistant, services: Services) -> Path:
    settings = assistant.settings
    return keys_dir(settings.var_dir, services.commune.code, settings.commune_code)


def _province_ca(var_dir: Path, name: str, province: str) -> ProvinceCA:
    folder = province_keys_dir(var_dir)
    try:
        return load_province_ca(folder)
    except KeysMissing:
        pass
    log.warning("First start: made the province's root CA in %s (a self-made CA); back it up, and keep "
                "root-ca.key offline once the communes are certified.", folder)
    return create_province_ca(folder, name, province)


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
        code = await create_invite(session, assistant.services.hasher, "admin", created_by="first-start",
                                   commune=assistant.services.commune.code)  # the installation's own
    await assistant.services.audit.record("system", "role.invite", detail={"role": "admin"})
    log.warning("First start: send  /join %s  in any chat to become the administrator "
                "(single use, valid 7 days; make more with `xaso invite ROLE`).", code)
    return code
