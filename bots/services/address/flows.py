"""Digital address codes: a shared location becomes an Open Location Code (10 characters, a cell of
about 14 m) and the hamlet it falls in; it is kept sealed for deliveries (backends/addresses)."""

from __future__ import annotations

from backends.addresses.hamlets import Hamlets
from backends.addresses.plus_codes import encode
from backends.addresses.store import save_address, saved_address
from bots.dialogue.base import Context
from core.messages import Reply


def _hamlet_name(context: Context, hamlet_id: str | None) -> str:
    hamlet = Hamlets.from_commune(context.services.commune).get(hamlet_id or "")
    return hamlet.name if hamlet else context.t("address.outside")


async def address_code(context: Context) -> list[Reply]:
    saved = await saved_address(context.session, context.services.cipher, context.identity.id)
    if saved is None:
        return [Reply(context.t("address.ask_location"), request_location=True)]
    context.audit("address.read", subject=f"user:{context.identity.id}")
    text = context.t("address.current", code=saved.code, hamlet=_hamlet_name(context, saved.hamlet_id))
    return [Reply(text, request_location=True)]


async def location(context: Context) -> list[Reply]:
    shared = context.incoming.location
    assert shared is not None
    hamlet = Hamlets.from_commune(context.services.commune).locate(shared.lat, shared.lon)
    code = encode(shared.lat, shared.lon)
    await save_address(context.session, context.services.cipher, context.identity.id, code,
                       hamlet.id if hamlet else None)
    context.audit("address.saved", subject=f"user:{context.identity.id}",
                  detail={"hamlet": hamlet.id if hamlet else None})
    name = hamlet.name if hamlet else context.t("address.outside")
    return [Reply(context.t("address.saved", code=code, hamlet=name))]
