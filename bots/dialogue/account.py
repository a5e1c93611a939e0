"""The citizen's own account: roles by invite, consent, phone number, and /mydata (see, export,
withdraw, delete). Admin commands /invite and /revoke live here too."""

from __future__ import annotations

import json
import re
from dataclasses import asdict

from sqlalchemy import delete, func, select

from backends.addresses.store import saved_address
from backends.health.mydata import health_records
from backends.reports.store import export_user as export_reports
from backends.reports.store import forget_user as forget_reports
from backends.shop.orders import deidentify, export_orders
from bots.dialogue.base import Context, Router
from bots.dialogue.menu import menu_reply, with_menu
from core.consent import active_purposes, grant_consent, has_consent, withdraw_consents
from core.identity import GRANTABLE_ROLES, create_invite, redeem_invite, revoke_roles
from core.media import media_url, store_media
from core.messages import Button, Reply
from core.models import Consent, Media, OutboxMessage, User, UserRole

_PHONE = re.compile(r"^(?:\+?84|0)([35789]\d{8})$")


def normalize_phone(raw: str) -> str | None:
    digits = re.sub(r"[\s.\-()]", "", raw)
    match = _PHONE.match(digits)
    return f"0{match.group(1)}" if match else None


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
    return [with_menu(context, context.t("join.ok", role=_role_label(context, outcome.role)))]


async def _notify_admins(context: Context, role: str) -> None:
    admins = (await context.session.execute(
        select(User).join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "admin", User.id != context.identity.id)
    )).scalars()
    for admin in admins:
        text = context.services.catalogue.t("join.notify_admins", admin.language,
                                            user=context.identity.id,
                                            role=context.services.catalogue.t(f"role.{role}", admin.language))
        await context.services.outbox.enqueue(
            context.session, channel=admin.channel, chat_id=admin.external_id, user_id=admin.id,
            reply=Reply(text), key=f"role-joined:{context.identity.id}:{role}:{admin.id}",
        )


async def invite(context: Context) -> list[Reply]:
    role = context.args.lower()
    if role not in GRANTABLE_ROLES:
        return [Reply(context.t("invite.usage"))]
    code = await create_invite(context.session, context.services.hasher, role,
                               created_by=f"user:{context.identity.id}")
    context.audit("role.invite", detail={"role": role})
    return [Reply(context.t("invite.ok", role=_role_label(context, role), code=code))]


async def revoke(context: Context) -> list[Reply]:
    parts = context.args.split()
    if not parts or not parts[0].lstrip("#").isdigit():
        return [Reply(context.t("revoke.usage"))]
    user_id = int(parts[0].lstrip("#"))
    role = parts[1].lower() if len(parts) > 1 else None
    if role is not None and role not in GRANTABLE_ROLES:
        return [Reply(context.t("revoke.usage"))]
    count = await revoke_roles(context.session, user_id, role)
    context.audit("role.revoke",
                                        subject=f"user:{user_id}", detail={"role": role, "count": count})
    key = "revoke.ok" if count else "revoke.none"
    return [Reply(context.t(key, count=count, user=user_id))]


async def _phone_of(context: Context, user: User) -> str | None:
    if not user.phone_enc:
        return None
    return context.services.cipher.decrypt(user.phone_enc, "users.phone")


async def my_data(context: Context) -> list[Reply]:
    user = await context.session.get(User, context.identity.id)
    assert user is not None
    phone = await _phone_of(context, user)
    purposes = await active_purposes(context.session, user.id)
    media_count = (await context.session.execute(
        select(func.count()).select_from(Media).where(Media.owner_id == user.id))).scalar_one()
    none = context.t("mydata.none")
    phone_text = none if phone is None else (
        context.t("mydata.phone_verified", phone=phone) if user.phone_verified else phone)
    roles = sorted(context.identity.roles - {"citizen"})
    text = context.t(
        "mydata.summary", commune=context.services.commune.get("name", ""), user=user.id,
        channel=user.channel, language=user.language,
        roles=", ".join(_role_label(context, r) for r in roles) or none, phone=phone_text,
        consents=", ".join(purposes) or none, media=media_count,
        state=context.state.flow if context.state else none,
    )
    buttons = [Button(context.t("mydata.button.export"), "mydata:export")]
    if purposes:
        buttons.append(Button(context.t("mydata.button.withdraw"), "mydata:withdraw"))
    buttons.append(Button(context.t("mydata.button.delete"), "mydata:delete"))
    context.audit("mydata.view", subject=f"user:{user.id}")
    return [Reply(text, tuple(buttons))]


async def _export(context: Context) -> list[Reply]:
    user = await context.session.get(User, context.identity.id)
    assert user is not None
    consents = (await context.session.execute(
        select(Consent).where(Consent.user_id == user.id).order_by(Consent.id))).scalars()
    media = (await context.session.execute(
        select(Media.id, Media.content_type, Media.size, Media.created_at).where(Media.owner_id == user.id)))
    saved = await saved_address(context.session, context.services.cipher, user.id)
    document = {
        "user": {"id": user.id, "channel": user.channel, "display_name": user.display_name,
                 "language": user.language, "phone": await _phone_of(context, user),
                 "phone_verified": user.phone_verified, "created_at": user.created_at.isoformat()},
        "roles": sorted(context.identity.roles),
        "consents": [{"purpose": c.purpose, "granted_at": c.granted_at.isoformat(),
                      "withdrawn_at": c.withdrawn_at.isoformat() if c.withdrawn_at else None}
                     for c in consents],
        "files": [{"id": m.id, "content_type": m.content_type, "size": m.size,
                   "created_at": m.created_at.isoformat()} for m in media],
        "reports": await export_reports(context.session, context.services.cipher, user.id),
        "conversation": {"flow": context.state.flow, "data": context.state.data} if context.state else None,
        "health": await health_records(context.session, context.services.cipher, user.id),
        "orders": await export_orders(context.session, context.services.cipher, user.id),
        "address_code": asdict(saved) if saved else None,
    }
    data = json.dumps(document, ensure_ascii=False, indent=2).encode()
    # The export holds health records: stored sealed, opened only through the owner's own link.
    media_id = await store_media(context.session, data, "application/json", owner_id=user.id,
                                 cipher=context.services.cipher)
    settings = context.services.settings
    context.audit("mydata.export", subject=f"user:{user.id}")
    url = media_url(context.services.hasher, settings.public_url, media_id, viewer=user.id)
    return [Reply(context.t("mydata.export_ready"), document_url=url)]


async def _withdraw(context: Context) -> list[Reply]:
    count = await withdraw_consents(context.session, context.identity.id)
    context.audit("consent.withdraw",
                                        detail={"count": count})
    return [Reply(context.t("mydata.withdrawn", count=count),
                  (Button(context.t("mydata.button.delete"), "mydata:delete"),))]


async def _ask_delete(context: Context) -> list[Reply]:
    return [Reply(context.t("mydata.delete_confirm"), (
        Button(context.t("mydata.button.delete_yes"), "mydata:delete-confirm", means="yes"),
        Button(context.t("mydata.button.keep"), "mydata:keep", means="no"),
    ))]


async def _delete(context: Context) -> list[Reply]:
    """Erases the user row; the database cascades to roles, sessions, consents, files, state,
    inbox and address code. Shop orders stay as commercial records without the buyer, address or
    phone. The audit log keeps only the number, as it always did."""
    user_id = context.identity.id
    farewell = context.t("mydata.deleted")
    await deidentify(context.session, user_id)
    await context.session.execute(
        delete(OutboxMessage).where(OutboxMessage.user_id == user_id, OutboxMessage.status != "sent"))
    reports = await forget_reports(context.session, user_id)  # the reports stay, without the person
    user = await context.session.get(User, user_id)
    if user is not None:
        await context.session.delete(user)
        await context.session.flush()
    context.set_state(None)
    context.extras["user_deleted"] = True  # nothing may be stored for this user after this turn
    context.audit("mydata.delete", subject=f"user:{user_id}",
                  detail={"reports": reports} if reports else None)
    return [Reply(farewell)]


async def mydata_button(context: Context) -> list[Reply]:
    action = (context.incoming.button or "").partition(":")[2]
    handlers = {"export": _export, "withdraw": _withdraw, "delete": _ask_delete,
                "delete-confirm": _delete}
    if action == "keep":
        return [menu_reply(context, "mydata.kept")]
    handler = handlers.get(action)
    if handler is None:
        return [menu_reply(context, "unknown_button")]
    return await handler(context)


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


async def consent_button(context: Context) -> list[Reply]:
    _, answer, purpose = [*(context.incoming.button or "").split(":"), "", ""][:3]
    if purpose != "contact" or answer not in ("yes", "no"):
        return [menu_reply(context, "unknown_button")]
    if answer == "no":
        return [menu_reply(context, "consent.refused")]
    await grant_consent(context.session, context.identity.id, purpose)
    context.audit("consent.grant", subject=purpose)
    return [Reply(context.t("consent.granted_contact"), request_phone=True)]


def register(router: Router) -> None:
    router.commands.update({"/join": join, "/invite": invite, "/revoke": revoke, "/mydata": my_data})
    router.intents["my_data"] = my_data
    router.buttons.update({"mydata": mydata_button, "consent": consent_button})
    router.media["contact"] = contact
