"""Conversation state: which flow a user is in and its data, kept in the database so that a
restart (or another node behind the load balancer) continues the same conversation.

A half-filled form holds what the citizen typed (ID numbers, addresses, symptoms), so the data is
sealed with the field cipher at rest, bound to its user."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import FieldCipher
from core.models import ConversationState

SEALED = "sealed"


@dataclass(frozen=True, slots=True)
class State:
    flow: str
    data: dict[str, Any]


def _context(user_id: int) -> str:
    return f"conversation_states:{user_id}"


async def load_state(session: AsyncSession, user_id: int, cipher: FieldCipher) -> State | None:
    row = await session.get(ConversationState, user_id)
    if row is None:
        return None
    stored = dict(row.data or {})
    if SEALED in stored:
        stored = json.loads(cipher.decrypt(stored[SEALED], _context(user_id)))
    return State(row.flow, stored)


async def save_state(session: AsyncSession, user_id: int, state: State | None, cipher: FieldCipher) -> None:
    if state is None:
        await clear_state(session, user_id)
        return
    sealed = {SEALED: cipher.encrypt(json.dumps(state.data, ensure_ascii=False), _context(user_id))}
    row = await session.get(ConversationState, user_id)
    if row is None:
        session.add(ConversationState(user_id=user_id, flow=state.flow, data=sealed))
    else:
        row.flow = state.flow
        row.data = sealed


async def clear_state(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(ConversationState).where(ConversationState.user_id == user_id))
