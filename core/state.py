"""Conversation state: which flow a user is in and its data, kept in the database so that a
restart (or another node behind the load balancer) continues the same conversation.

A half-filled form holds what the citizen typed (ID numbers, addresses, symptoms), so the data is
sealed with the field cipher at rest, bound to its user."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import FieldCipher
from core.models import ConversationState, OfferedChoices, User, utcnow
from core.questions import Offered, offered_from

SEALED = "sealed"


@dataclass(frozen=True, slots=True)
class State:
    flow: str
    data: dict[str, Any]


def _context(user_id: int) -> str:
    return f"conversation_states:{user_id}"


_STATE = select(ConversationState.flow, ConversationState.data).where(
    ConversationState.user_id == bindparam("user_id"))
# What a turn needs before routing, in one round trip: the open flow and the question last asked.
_CONVERSATION = (
    select(ConversationState.flow, ConversationState.data, OfferedChoices.user_id.label("asked"),
           OfferedChoices.reply, OfferedChoices.reply_at, OfferedChoices.pushed, OfferedChoices.pushed_at)
    .select_from(User)
    .outerjoin(ConversationState, ConversationState.user_id == User.id)
    .outerjoin(OfferedChoices, OfferedChoices.user_id == User.id)
    .where(User.id == bindparam("user_id"))
)


def _save(insert: Any) -> Any:
    statement = insert(ConversationState).values(
        user_id=bindparam("user_id"), flow=bindparam("flow"), data=bindparam("data"),
        updated_at=bindparam("updated_at"))
    return statement.on_conflict_do_update(
        index_elements=[ConversationState.user_id],
        set_={name: statement.excluded[name] for name in ("flow", "data", "updated_at")})


_SAVE = {False: _save(sqlite.insert), True: _save(postgresql.insert)}  # by "is it PostgreSQL"
_CLEAR = delete(ConversationState).where(ConversationState.user_id == bindparam("user_id"))


def _opened(flow: str, data: dict[str, Any] | None, user_id: int, cipher: FieldCipher) -> State:
    stored = dict(data or {})
    if SEALED in stored:
        stored = json.loads(cipher.decrypt(stored[SEALED], _context(user_id)))
    return State(flow, stored)


async def load_state(session: AsyncSession, user_id: int, cipher: FieldCipher) -> State | None:
    row = (await session.execute(_STATE, {"user_id": user_id})).first()
    return None if row is None else _opened(row.flow, row.data, user_id, cipher)


async def load_conversation(session: AsyncSession, user_id: int,
                            cipher: FieldCipher) -> tuple[State | None, Offered | None]:
    """The user's open flow and the question they were last asked (core/questions.py)."""
    row = (await session.execute(_CONVERSATION, {"user_id": user_id})).first()
    if row is None:
        return None, None
    state = None if row.flow is None else _opened(row.flow, row.data, user_id, cipher)
    asked = None if row.asked is None else offered_from(row.reply, row.reply_at, row.pushed, row.pushed_at)
    return state, asked


async def save_state(session: AsyncSession, user_id: int, state: State | None, cipher: FieldCipher) -> None:
    if state is None:
        await clear_state(session, user_id)
        return
    sealed = {SEALED: cipher.encrypt(json.dumps(state.data, ensure_ascii=False), _context(user_id))}
    statement = _SAVE[session.get_bind().dialect.name == "postgresql"]
    await session.execute(statement, {"user_id": user_id, "flow": state.flow, "data": sealed,
                                      "updated_at": utcnow()})


async def clear_state(session: AsyncSession, user_id: int) -> None:
    await session.execute(_CLEAR, {"user_id": user_id})
