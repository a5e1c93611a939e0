"""The citizen's own account: roles by invite, consent, phone number, and /mydata (see, export,
withdraw, delete; the deletion's warning and erasure are in bots/services/account/erasure.py). Admin commands
/invite and /revoke live here too.

What the other services keep about the villager reaches /mydata only through their declared `Holdings`
(bots/dialogue/service.py), read from the assembly in order of position; the account's own part of the
export is declared the same way (`HOLDINGS`), first."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select

from bots.dialogue.base import Context, FlowHandler
from bots.dialogue.menu import menu_reply, with_menu
from bots.dialogue.notify import notify
from bots.dialogue.service import Holdings, Role
from core.consent import active_purposes, grant_consent, has_consent, purpose_key, withdraw_consents
from core.identity import create_invite, redeem_invite, revoke_roles, users_with_role
from core.media import media_url, store_media
from core.messages import Button, Reply
from core.models import Consent, Media, User
from core.validators import normalize_phone

PROVINCE = "province"  # every commune, read-only: `xaso invite province` only


def staff_commune(context: Context) -> str:
    """The commune a staff action is for: the one the staff member works in (on a commune's own
    installation, its commune: the roles stay that commune's if it later joins a province's)."""
    return context.services.commune.code


def _role_label(context: Context, role: str) -> str:
    return context.t(f"role.{role}")


async def join(context: Context) -> list[Reply]:
    code = context.args
    if not code:
        return [Reply(context.t("join.usage"))]
    outcome = await redeem_invite(context.session, context.services.hasher, code, context.identity.id)
    context.audit("role.join",
                                        outcome="ok" if outcome.ok else outcome.reason or "refused",
                                        detail={"role": outcome.role} if outcome.role else None)
    if not outcome.ok or outcome.role is None:
        return [Reply(context.t(f"join.{outcome.reason}"))]
    await _notify_admins(context, outcome.role)
    role = _role_label(context, outcome.role)
    done = context.t("join.ok_in", role=role, commune=context.services.commune.name) \
        if context.services.settings.several_communes and outcome.commune else context.t("join.ok", role=role)
    replies = [with_menu(context, done)]
    for declared in (context.assembly.roles.values() if context.assembly is not None else ()):
        if declared.joined is not None:  # a seller's invite also links the account to its seller
            replies.extend(await declared.joined(context))
    return replies


async def _notify_admins(context: Context, role: str) -> None:
    for admin in await users_with_role(context.session, "admin", exclude=context.identity.id,
                                       commune=staff_commune(context)):
        await notify(context.session, context.services, admin, "join.notify_admins",
                     f"role-joined:{context.identity.id}:{role}:{admin.id}", user=context.identity.id,
                     role=context.services.catalogue.t(f"role.{role}", admin.language))


def _roles(context: Context) -> Mapping[str, Role]:
    """The roles the services declare (staff and admin here, doctor, seller…)."""
    return context.assembly.roles if context.assembly is not None else {}


async def invite(context: Context) -> list[Reply]:
    """`/invite ROLE`; a role whose service needs more (`/invite seller ID`) has its own invite."""
    role = (context.args.split() or [""])[0].lower()
    declared = _roles(context).get(role)
    if declared is not None and declared.invite is not None and len(context.args.split()) > 1:
        return await declared.invite(context)
    role = context.args.lower()
    if role not in _roles(context) or role == PROVINCE:  # not a commune's to hand out
        return [Reply(context.t("invite.usage"))]
    code = await create_invite(context.session, context.services.hasher, role,
                               created_by=f"user:{context.identity.id}", commune=staff_commune(context))
    context.audit("role.invite", detail={"role": role})
    return [Reply(context.t("invite.ok", role=_role_label(context, role), code=code))]


async def revoke(context: Context) -> list[Reply]:
    parts = context.args.split()
    number = parts[0].lstrip("#") if parts else ""
    # ASCII digits within a database id: "²".isdigit() is true and int("²") an error.
    if not (number.isascii() and number.isdigit() and len(number) <= 18):
        return [Reply(context.t("revoke.usage"))]
    user_id = int(number)
    role = parts[1].lower() if len(parts) > 1 else None
    if role is not None and role not in _roles(context):
        return [Reply(context.t("revoke.usage"))]
    count = await revoke_roles(context.session, user_id, role, commune=staff_commune(context))
    context.audit("role.revoke", subject=f"user:{user_id}", detail={"role": role, "count": count})
    key = "revoke.ok" if count else "revoke.none"
    return [Reply(context.t(key, count=count, user=user_id))]


async def _phone_of(context: Context, user: User) -> str | None:
    if not user.phone_enc:
        return None
    return context.services.cipher.decrypt(user.phone_enc, "users.phone")


def holdings(context: Context) -> Sequence[Holdings]:
    """What the services declare they keep about a villager, in order of position (the account's own
    first; without an assembly, the account's own only)."""
    return context.assembly.holdings if context.assembly is not None else (HOLDINGS,)


async def _phones_given(context: Context) -> dict[str, list[str]]:
    """Phone numbers given to the services (in orders, in dossiers: all stored sealed), each with where
    it was given, in the services' order."""
    given: dict[str, list[str]] = {}
    for held in holdings(context):
        for phone, where in await held.phones(context) if held.phones is not None else ():
            given.setdefault(phone, []).append(where)
    return given


async def _phone_line(context: Context, user: User) -> str:
    """The real state: the account's number (sealed, verified or not), numbers given to the services
    (sealed), or none."""
    own = await _phone_of(context, user)
    parts = []
    if own is not None:
        parts.append(context.t("mydata.phone.verified" if user.phone_verified else "mydata.phone.saved",
                               phone=own))
    for phone, where in (await _phones_given(context)).items():
        if phone != own:
            parts.append(context.t("mydata.phone.given", phone=phone, where=", ".join(where)))
    return "; ".join(parts) or context.t("mydata.none")


async def my_data(context: Context) -> list[Reply]:
    user = await context.session.get(User, context.identity.id)
    assert user is not None
    purposes = await active_purposes(context.session, user.id)
    media_count = (await context.session.execute(
        select(func.count()).select_from(Media).where(Media.owner_id == user.id))).scalar_one()
    none = context.t("mydata.none")
    roles = sorted(context.identity.roles - {"citizen"})
    phone = await _phone_line(context, user)
    text = context.t(
        "mydata.summary", commune=context.services.commune.name, user=user.id,
        channel=user.channel, language=user.language,
        roles=", ".join(_role_label(context, r) for r in roles) or none, phone=phone,
        consents=", ".join(context.t(purpose_key(p)) for p in purposes) or none, media=media_count,
        state=context.state.flow if context.state else none,
    )
    added = [line for held in holdings(context) if held.summary is not None
             for line in await held.summary(context)]
    text = "\n".join([text, *added])
    buttons = [Button(context.t("mydata.button.export"), "mydata:export")]
    if purposes:
        buttons.append(Button(context.t("mydata.button.withdraw"), "mydata:withdraw"))
    buttons.append(Button(context.t("mydata.button.delete"), "mydata:delete"))
    context.audit("mydata.view", subject=f"user:{user.id}")
    return [Reply(text, tuple(buttons))]


async def _user(context: Context) -> dict[str, Any]:
    user = await context.session.get(User, context.identity.id)
    assert user is not None
    return {"id": user.id, "channel": user.channel, "display_name": user.display_name,
            "language": user.language, "phone": await _phone_of(context, user),
            "phone_verified": user.phone_verified, "created_at": user.created_at.isoformat()}


async def _roles_held(context: Context) -> list[str]:
    return sorted(context.identity.roles)


async def _consents(context: Context) -> list[dict[str, Any]]:
    consents = (await context.session.execute(
        select(Consent).where(Consent.user_id == context.identity.id).order_by(Consent.id))).scalars()
    return [{"purpose": c.purpose, "granted_at": c.granted_at.isoformat(),
             "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None} for c in consents]


async def _files(context: Context) -> list[dict[str, Any]]:
    media = (await context.session.execute(select(Media.id, Media.content_type, Media.size, Media.created_at)
                                           .where(Media.owner_id == context.identity.id)))
    return [{"id": m.id, "content_type": m.content_type, "size": m.size,
             "created_at": m.created_at.isoformat()} for m in media]


async def _conversation(context: Context) -> dict[str, Any] | None:
    return {"flow": context.state.flow, "data": context.state.data} if context.state else None


# The account's own part of the export, first; its erasure is the last step of erasure.py, not declared.
HOLDINGS = Holdings(position=0, export={"user": _user, "roles": _roles_held, "consents": _consents,
                                        "files": _files, "conversation": _conversation})


async def export(context: Context) -> list[Reply]:
    user = await context.session.get(User, context.identity.id)
    assert user is not None
    document = {key: await part(context) for held in holdings(context) for key, part in held.export.items()}
    data = json.dumps(document, ensure_ascii=False, indent=2).encode()
    # The export holds health records: stored sealed, opened only through the owner's own link.
    media_id = await store_media(context.session, data, "application/json", owner_id=user.id,
                                 cipher=context.services.cipher)
    settings = context.services.settings
    context.audit("mydata.export", subject=f"user:{user.id}")
    url = media_url(context.services.hasher, settings.public_url, media_id, viewer=user.id)
    return [Reply(context.t("mydata.export_ready"), document_url=url)]


async def withdraw(context: Context) -> list[Reply]:
    count = await withdraw_consents(context.session, context.identity.id)
    context.audit("consent.withdraw",
                                        detail={"count": count})
    return [Reply(context.t("mydata.withdrawn", count=count),
                  (Button(context.t("mydata.button.delete"), "mydata:delete"),))]


async def keep(context: Context) -> list[Reply]:
    """«Keep my account» under the deletion question."""
    return [menu_reply(context, "mydata.kept")]


async def unknown(context: Context) -> list[Reply]:
    return [menu_reply(context, "unknown_button")]


def exact(handler: FlowHandler) -> FlowHandler:
    """A /mydata button carries its action and nothing more: `mydata:export:…` is an unknown button."""

    async def exactly(context: Context) -> list[Reply]:
        return await (unknown if context.pressed.arg else handler)(context)

    return exactly


async def contact(context: Context) -> list[Reply]:
    shared = context.incoming.contact
    assert shared is not None
    if not await has_consent(context.session, context.identity.id, "contact"):
        return [Reply(context.t("consent.ask.contact"), (
            Button(context.t("consent.button.yes"), "consent:yes:contact", means="yes"),
            Button(context.t("consent.button.no"), "consent:no:contact", means="no"),
        ))]
    phone = normalize_phone(shared.phone)
    if phone is None:
        return [Reply(context.t("contact.bad_phone"), request_phone=True)]
    user = await context.session.get(User, context.identity.id)
    assert user is not None
    user.phone_enc = context.services.cipher.encrypt(phone, "users.phone")
    user.phone_verified = shared.verified
    context.audit("contact.saved",
                                        detail={"verified": shared.verified})
    verified = context.t("contact.verified") if shared.verified else ""
    return [with_menu(context, context.t("contact.saved", phone=phone, verified=verified))]


def _contact_consent(context: Context) -> bool:
    """`consent:yes:contact` and `consent:no:contact`: the phone number is the only purpose asked here."""
    args = context.pressed.args
    return bool(args) and args[0] == "contact"


async def consent_yes(context: Context) -> list[Reply]:
    if not _contact_consent(context):
        return await unknown(context)
    await grant_consent(context.session, context.identity.id, "contact")
    context.audit("consent.grant", subject="contact")
    return [Reply(context.t("consent.granted_contact"), request_phone=True)]


async def consent_no(context: Context) -> list[Reply]:
    if not _contact_consent(context):
        return await unknown(context)
    return [menu_reply(context, "consent.refused")]
