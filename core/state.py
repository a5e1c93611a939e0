"""Conversation state: which flow a user is in and its data, kept in the database so that a
restart (or another node behind the load balancer) continues the same conversation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import ConversationState


@dataclass(frozen=True, slots=True)
class State:
    flow: str
    data: dict[str, Any]


async def load_state(session: AsyncSession, user_id: int) -> State | None:
    row = await session.get(ConversationState, user_id)
    return None if row is None else State(row.flow, dict(row.data or {}))


async def save_state(session: AsyncSession, user_id: int, state: State | None) -> None:
    if state is None:
        await clear_state(session, user_id)
        return
    row = await session.get(ConversationState, user_id)
    if row is None:
        session.add(ConversationState(user_id=user_id, flow=state.flow, data=state.data))
    else:
        row.flow = state.flow
        row.data = state.data


async def clear_state(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(ConversationState).where(ConversationState.user_id == user_id))
