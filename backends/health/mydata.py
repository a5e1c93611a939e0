"""A person's own health records for /mydata: consults with their messages, emergency messages and
appointments, opened for that person alone (the export is theirs; the caller audits it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backends.health.appointments import all_of
from backends.health.consults import Consult, EmergencyAlert, messages_of, unseal
from core.crypto import FieldCipher


async def health_records(session: AsyncSession, cipher: FieldCipher, user_id: int) -> dict[str, Any]:
    consults = (await session.execute(
        select(Consult).where(Consult.user_id == user_id).order_by(Consult.id))).scalars()
    query = select(EmergencyAlert).where(EmergencyAlert.user_id == user_id).order_by(EmergencyAlert.id)
    alerts = (await session.execute(query)).scalars()
    return {
        "consults": [{
            "id": c.id, "who": c.who, "age": c.age, "status": c.status,
            "symptoms": unseal(cipher, c.symptoms_enc, "symptoms", c.id),
            "since": unseal(cipher, c.since_enc, "since", c.id), "photo": c.photo_id,
            "created_at": c.created_at.isoformat(),
            "messages": [{"author": m.author, "at": m.at.isoformat(), "media": m.media_id,
                          "text": unseal(cipher, m.text_enc, "message", m.id)}
                         for m in await messages_of(session, c.id)],
        } for c in list(consults)],
        "emergency_messages": [{"at": a.at.isoformat(), "category": a.category,
                                "text": unseal(cipher, a.text_enc, "emergency", a.id)} for a in alerts],
        "appointments": [{
            "code": a.code, "kind": a.kind, "starts_at": a.starts_at.isoformat(), "status": a.status,
            "reason": unseal(cipher, a.reason_enc, "appointment", a.id),
            "cancelled_at": a.cancelled_at.isoformat() if a.cancelled_at else None,
        } for a in await all_of(session, user_id)],
    }
