"""What every dialogue flow receives, and the router that picks the flow for a message.

Routing is explicit and in two steps (match, then handle): the user's open conversation state
first, then commands, then button families, then the NLU's intent. The first match wins.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from backends.shop.payments import CashOnDelivery, Payments
from core.audit import AuditLog
from core.config import Settings
from core.crypto import FieldCipher, Hasher
from core.i18n import Catalogue
from core.identity import Identity
from core.messages import Incoming, Reply
from core.outbox import Outbox
from core.pipeline import AuditScalar, Outcome, Turn
from core.roles import command_name
from core.signing import Keyring
from core.state import State, clear_state, load_state, save_state
from nlu.engine import NLUEngine, NLUService, Parse

if TYPE_CHECKING:
    from backends.loudspeaker.tts import Speech
    from bots.dialogue.forms import Forms


@dataclass(frozen=True)
class Services:
    settings: Settings
    catalogue: Catalogue
    nlu: NLUEngine
    outbox: Outbox
    audit: AuditLog
    hasher: Hasher
    cipher: FieldCipher
    commune: dict[str, Any]
    forms: Forms
    # The commune's signing key and trusted roots, loaded by Assistant.start (core.signing).
    keyring: Keyring = field(default_factory=Keyring)
    # The payment providers offered to buyers (cash always; Stripe and VietQR when configured).
    payments: Payments = field(default_factory=lambda: Payments([CashOnDelivery()]))
    # Text to speech with its cache (backends/loudspeaker/tts.py); None: nothing can be spoken.
    speech: Speech | None = None


@dataclass
class Context:
    turn: Turn
    services: Services
    state: State | None = None
    parse: Parse | None = None
    # Set by a handler to replace (or, with None, clear) the conversation state after this turn.
    next_state: State | None = None
    state_changed: bool = False
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def incoming(self) -> Incoming:
        return self.turn.incoming

    @property
    def session(self) -> AsyncSession:
        return self.turn.session

    @property
    def identity(self) -> Identity:
        assert self.turn.identity is not None, "identity middleware must run first"
        return self.turn.identity

    @property
    def lang(self) -> str:
        return self.extras.get("lang") or self.identity.language

    def t(self, key: str, **params: Any) -> str:
        return self.services.catalogue.t(key, self.lang, **params)

    def audit(self, action: str, *, subject: str | None = None, outcome: str = "ok",
              detail: Mapping[str, AuditScalar] | None = None) -> None:
        self.turn.audit(f"user:{self.identity.id}", action, subject=subject, outcome=outcome, detail=detail)

    def set_state(self, state: State | None) -> None:
        self.next_state = state
        self.state_changed = True

    @property
    def args(self) -> str:
        """The text after a command: `/join ABC` → `ABC`."""
        parts = (self.incoming.text or "").strip().split(maxsplit=1)
        return parts[1].strip() if len(parts) > 1 else ""


FlowHandler = Callable[[Context], Awaitable[list[Reply]]]
# Runs on every turn's replies after routing (e.g. the "🔊 Nghe" button of bots/dialogue/listen.py).
Finisher = Callable[[Context, list[Reply]], Awaitable[list[Reply]]]
# A state handler may decline a message (None) so that normal routing takes it.
StateHandler = Callable[[Context], Awaitable[list[Reply] | None]]

# These always work, whatever the user is in the middle of.
ESCAPE_COMMANDS = frozenset({"/start", "/cancel", "/help"})


@dataclass
class Router:
    nlu: NLUService
    states: dict[str, StateHandler] = field(default_factory=dict)
    commands: dict[str, FlowHandler] = field(default_factory=dict)
    buttons: dict[str, FlowHandler] = field(default_factory=dict)
    intents: dict[str, FlowHandler] = field(default_factory=dict)
    media: dict[str, FlowHandler] = field(default_factory=dict)  # location, contact, attachment
    unknown_command: FlowHandler | None = None
    unknown_button: FlowHandler | None = None
    fallback: FlowHandler | None = None
    # Objects a flow's background task needs (the health desk for escalation), by flow name.
    desks: dict[str, Any] = field(default_factory=dict)
    finishers: list[Finisher] = field(default_factory=list)

    def command(self, *names: str) -> Callable[[FlowHandler], FlowHandler]:
        def register(handler: FlowHandler) -> FlowHandler:
            for name in names:
                self.commands[name] = handler
            return handler
        return register

    async def route(self, context: Context) -> list[Reply]:
        incoming = context.incoming
        command = command_name(incoming.text) if incoming.text else None
        if command in ESCAPE_COMMANDS:
            context.set_state(None)
            return await self.commands[command](context)
        if context.state is not None:
            handler = self.states.get(context.state.flow)
            if handler is None:  # a flow that no longer exists: forget it rather than get stuck
                context.set_state(None)
            else:
                replies = await handler(context)
                if replies is not None:
                    return replies
        return await self._route_stateless(context, command)

    async def _route_stateless(self, context: Context, command: str | None) -> list[Reply]:
        incoming = context.incoming
        if command is not None:
            handler = self.commands.get(command, self.unknown_command)
        elif incoming.button is not None:
            handler = self.buttons.get(incoming.button.split(":", 1)[0], self.unknown_button)
        elif incoming.kind != "text":
            handler = self.media.get(incoming.kind, self.fallback)
        else:
            context.parse = await self.nlu.understand(incoming.text or "")
            handler = self.intents.get(context.parse.intent, self.fallback)
        assert handler is not None, "router is missing a fallback handler"
        return await handler(context)


# (channel, what handled the message, seconds, whether the NLU chose it): for the metrics.
DialogueObserver = Callable[[str, str, float, bool], None]


def handled_by(router: Router, context: Context, state: State | None) -> str:
    """A bounded label for what handled the message: the NLU's intent, a known command, a known button
    family, the open conversation's flow, or the kind of message."""
    if context.parse is not None:
        return context.parse.intent
    incoming = context.incoming
    command = command_name(incoming.text) if incoming.text else None
    if command is not None:
        return command if command in router.commands else "command"
    if state is not None and state.flow in router.states:
        return f"state:{state.flow}"
    if incoming.button is not None:
        family = incoming.button.split(":", 1)[0]
        return f"button:{family}" if family in router.buttons else "button"
    return incoming.kind


class Dialogue:
    """The pipeline's final handler: loads the state, routes, saves the state, all in the turn's
    transaction."""

    def __init__(self, router: Router, services: Services, observe: DialogueObserver | None = None) -> None:
        self.router = router
        self.services = services
        self.observe = observe

    async def __call__(self, turn: Turn) -> Outcome:
        assert turn.identity is not None
        started = time.perf_counter()
        state = await load_state(turn.session, turn.identity.id, self.services.cipher)
        context = Context(turn, self.services, state=state)
        replies = await self.router.route(context)
        for finish in self.router.finishers:
            replies = await finish(context, replies)
        if self.observe is not None:
            self.observe(turn.incoming.channel, handled_by(self.router, context, state),
                         time.perf_counter() - started, context.parse is not None)
        if context.state_changed:
            if context.next_state is None:
                await clear_state(turn.session, turn.identity.id)
            else:
                await save_state(turn.session, turn.identity.id, context.next_state, self.services.cipher)
        return Outcome(tuple(replies))
