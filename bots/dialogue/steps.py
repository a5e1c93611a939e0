"""A button of the flow in progress, for the step machines written in Python (a village report, a shop
order, an announcement): the flow's data is read from the conversation state, «expired» answers a button
of a flow that is over, and a button the step declines (None: already answered, not offered at this
point, a bad argument) gets the current question again, so an old or doubled press never breaks a flow.

These machines do not fit the YAML form engine (core/forms.py, bots/dialogue/forms.py), which is for
fixed forms: their choices come from the catalogue, the commune or the free slots, hamlets are picked
several at once, the first message is read for answers, and a preview carries its audio.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from bots.dialogue.base import Context
from core.messages import Reply

D = TypeVar("D")
# A button's step: (owner, context, data, the button's argument) → replies, or None to decline. The owner is
# `self` for a method and nothing for a function; `read` and `again` get the same owner first.
Step = Callable[..., Awaitable[list[Reply] | None]]
Pressed = Callable[..., Awaitable[list[Reply]]]


def flow_button(read: Callable[..., D | None], expired: Callable[[Context], list[Reply]],
                again: Callable[..., Awaitable[list[Reply]]],
                when: Callable[[D], bool] | None = None) -> Callable[[Step], Pressed]:
    """A decorator for the buttons of one flow: `read(owner, context)` is the flow's data, None when it is
    over (then `expired`); `again(owner, context, data)` asks the current question again when the step
    declines, or when `when(data)` says the button belongs to another point of the flow (an old one)."""

    def declare(step: Step) -> Pressed:
        @functools.wraps(step)
        async def pressed(*args: Any) -> list[Reply]:
            *owner, context = args
            data = read(*owner, context)
            if data is None:
                return expired(context)
            fits = when is None or when(data)
            replies = await step(*owner, context, data, context.pressed.arg) if fits else None
            return replies if replies is not None else await again(*owner, context, data)

        return pressed

    return declare
