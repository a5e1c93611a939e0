"""What every dialogue flow receives, and the router that picks the flow for a message.

Routing is explicit and in two steps (match, then handle): the user's open conversation state
first, then commands, then button families, then the NLU's intent. The first match wins.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from backends.payments import CashOnDelivery, Payments
from core import answers
from core.audit import AuditLog
from core.commune import Commune
from core.config import Settings
from core.crypto import FieldCipher, Hasher
from core.i18n import Catalogue
from core.identity import Identity
from core.messages import Button, Incoming, Reply
from core.models import utcnow
from core.outbox import Outbox
from core.pipeline import AuditScalar, Finish, Outcome, Turn
from core.questions import Offered, last_buttons, remember
from core.roles import button_family, command_argument, command_name
from core.signing import Keyring
from core.state import State, clear_state, load_conversation, save_state
from nlu.engine import EMERGENCY, OUT_OF_SCOPE, NLUEngine, NLUService, Parse
from nlu.service import LocalNLU

if TYPE_CHECKING:
    from backends.loudspeaker.tts import Speech
    from bots.dialogue.forms import Forms
    from bots.dialogue.service import Assembly


@dataclass(frozen=True)
class Services:
    settings: Settings
    catalogue: Catalogue
    nlu: NLUEngine
    outbox: Outbox
    audit: AuditLog
    hasher: Hasher
    cipher: FieldCipher
    commune: Commune
    forms: Forms
    # The commune's signing key and trusted roots, loaded by Assistant.start (core.signing).
    keyring: Keyring = field(default_factory=Keyring)
    # The payment providers offered to buyers (cash always; Stripe and VietQR when configured).
    payments: Payments = field(default_factory=lambda: Payments([CashOnDelivery()]))
    # Text to speech with its cache (backends/loudspeaker/tts.py); None: nothing can be spoken.
    speech: Speech | None = None


@dataclass(frozen=True, slots=True)
class Press:
    family: str
    action: str
    arg: str  # everything after the action, as sent ("LB-2026-000001", "3:2026-03-02")

    @property
    def args(self) -> tuple[str, ...]:
        return tuple(self.arg.split(":")) if self.arg else ()

    @classmethod
    def parse(cls, data: str) -> Press:
        family, _, rest = data.partition(":")
        action, _, arg = rest.partition(":")
        return cls(family, action, arg)


_NO_PRESS = Press("", "", "")


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
    # The buttons of the last question asked (core/questions.py), loaded for typed messages.
    offered: Offered | None = None
    # The assembled services: the intents by name, the menu, the roles (bots/dialogue/service.py).
    assembly: Assembly | None = None

    @property
    def press(self) -> Press | None:
        """The button pressed, in its parts: `family:action[:args]`."""
        data = self.turn.incoming.button
        return Press.parse(data) if data is not None else None

    @property
    def pressed(self) -> Press:
        """The press being handled, or an empty one when the message is not a press: a handler reached
        some other way then reads no argument (and answers as to a bad one) rather than failing."""
        return self.press or _NO_PRESS

    def intent_handler(self, intent: str) -> FlowHandler | None:
        return self.assembly.intents.get(intent) if self.assembly is not None else None

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

    def after_commit(self, step: LateStep) -> None:
        """Runs `step` (a remote call) once this turn has committed and the writer lock is free
        (core/pipeline.py); the handler it returns then answers this conversation again in a short
        transaction of its own, which saves its state change and question as a turn does. Its replies
        follow this turn's."""
        async def later() -> Finish | None:
            handler = await step()
            return None if handler is None else functools.partial(self._resumed, handler)

        self.turn.after_commit(later)

    async def _resumed(self, handler: FlowHandler, turn: Turn) -> list[Reply]:
        context = dataclasses.replace(self, turn=turn, next_state=None, state_changed=False, offered=None)
        replies = await handler(context)
        for finish in self.assembly.finishers if self.assembly is not None else ():
            replies = await finish(context, replies)
        if turn.identity is not None:
            await Dialogue._remember_question(context, replies)
            if context.state_changed and context.next_state is None:
                await clear_state(turn.session, turn.identity.id)
            elif context.state_changed:
                await save_state(turn.session, turn.identity.id, context.next_state, self.services.cipher)
        return replies

    def understand(self, text: str) -> Parse:
        """The embedded NLU's reading of `text`, made once per message whoever asks (a flow looking
        for a red flag or an amount, then the router when the flow declines)."""
        parses: dict[str, Parse] = self.extras.setdefault("parses", {})
        parse = parses.get(text)
        if parse is None:
            parse = parses[text] = self.services.nlu.parse(text)
        return parse

    @property
    def emergency_answered(self) -> bool:
        """The router already gave the 115 answer for this message (a red flag typed inside a flow)."""
        return bool(self.extras.get("emergency_answered"))

    @property
    def args(self) -> str:
        """The text after a command: `/join ABC` → `ABC`."""
        return command_argument(self.incoming.text or "")


FlowHandler = Callable[[Context], Awaitable[list[Reply]]]
# The slow part of a turn, after its commit (Context.after_commit): the handler to answer with then, or None.
LateStep = Callable[[], Awaitable[FlowHandler | None]]
# Runs on every turn's replies after routing (e.g. the "🔊 Nghe" button of bots/services/listen/button.py).
Finisher = Callable[[Context, list[Reply]], Awaitable[list[Reply]]]
# A state handler may decline a message (None) so that normal routing takes it.
StateHandler = Callable[[Context], Awaitable[list[Reply] | None]]

# These always work, whatever the user is in the middle of.
ESCAPE_COMMANDS = frozenset({"/start", "/cancel", "/help"})


class Router:
    """Routes a message by the tables of the assembled services (bots/dialogue/service.py)."""

    def __init__(self, nlu: NLUService, assembly: Assembly) -> None:
        self.nlu = nlu
        self.assembly = assembly
        self.states = assembly.states
        self.commands = assembly.commands
        self.intents = assembly.intents
        self.finishers = assembly.finishers
        self.anywhere = frozenset(name for name, family in assembly.buttons.items() if family.anywhere)

    async def _press(self, context: Context) -> list[Reply]:
        press = context.press
        assert press is not None
        family = self.assembly.buttons.get(press.family)
        handler = None
        if family is not None:
            handler = family.actions.get(press.action) or family.handler
        return await (handler or self.assembly.fallbacks.button)(context)

    async def _media(self, context: Context) -> list[Reply]:
        for handler in self.assembly.media.get(context.incoming.kind, ()):
            replies = await handler(context)
            if replies is not None:
                return replies
        return await self.assembly.fallbacks.text(context)

    async def route(self, context: Context) -> list[Reply]:
        """The open flow first, with typed text read as the answer to the question just asked; a red
        flag gets the 115 answer first wherever the villager is; then commands, buttons, the NLU."""
        incoming = context.incoming
        command = command_name(incoming.text) if incoming.text else None
        if command in ESCAPE_COMMANDS:
            context.set_state(None)
            return await self.commands[command](context)
        if incoming.button is not None and button_family(incoming.button) in self.anywhere:
            return await self._press(context)
        typed = command is None and incoming.kind == "text" and bool((incoming.text or "").strip())
        first: list[Reply] = []
        if typed and context.state is not None and _red_flag(context):
            first = await self._emergency(context)  # 115 first, wherever the villager is
            if context.state.flow not in self.assembly.through_emergency:
                context.set_state(None)  # a real emergency leaves the flow
                return first
        if context.state is not None:
            handler = self.states.get(context.state.flow)
            if handler is None:  # a flow that no longer exists: forget it rather than get stuck
                context.set_state(None)
            else:
                reads_itself = context.state.flow in self.assembly.reads_typed
                if typed and not context.emergency_answered and not reads_itself:
                    self._press_typed(context, context.offered.reply if context.offered else ())
                replies = await handler(context)
                if replies is not None:
                    return first + replies
                if context.emergency_answered:
                    return first
        if context.incoming.kind == "text" and command is None and context.offered is not None:
            self._press_typed(context, context.offered.latest(utcnow()))
        return first + await self._route_stateless(context, command)

    async def _emergency(self, context: Context) -> list[Reply]:
        handler = self.intents.get(EMERGENCY)
        if handler is None:
            return []
        context.extras["emergency_answered"] = True
        return await handler(context)

    async def _route_stateless(self, context: Context, command: str | None) -> list[Reply]:
        incoming = context.incoming
        if command is not None:
            return await self.commands.get(command, self.assembly.fallbacks.command)(context)
        if incoming.button is not None:
            return await self._press(context)
        if incoming.kind != "text":
            return await self._media(context)
        text = incoming.text or ""
        local = isinstance(self.nlu, LocalNLU) and self.nlu.engine is context.services.nlu
        context.parse = _answer_first(context, context.understand(text) if local
                                      else await self.nlu.understand(text))
        pending = context.offered.latest(utcnow()) if context.offered else ()
        if _real_question(pending) and not _clear_request(context.parse, incoming.text or ""):
            return [_ask_again(context, pending)]
        return await self.intents.get(context.parse.intent, self.assembly.fallbacks.text)(context)

    def _press_typed(self, context: Context, choices: Sequence[answers.Choice]) -> bool:
        """Turns a typed answer into the press of the button it names, if the user was offered one."""
        incoming = context.incoming
        choice = answers.choose(incoming.text or "", choices) if choices else None
        if choice is None:
            return False
        requirement = self.assembly.access.requirement_for(None, choice.value)
        if requirement is not None and not context.identity.has_any(requirement.roles):
            return False  # a staff button offered before a role was revoked stays out of reach
        context.turn.incoming = dataclasses.replace(incoming, button=choice.value, text=None)
        context.extras["typed_answer"] = incoming.text
        return True


def _red_flag(context: Context) -> bool:
    rules = getattr(context.services.nlu, "rules", None)
    return rules is not None and rules.match(context.incoming.text or "") is not None


def _answer_first(context: Context, parse: Parse) -> Parse:
    """One or two words answering a question are an answer, never an emergency: only a red-flag
    phrase raises one there (it was answered before this point)."""
    text = context.incoming.text or ""
    asked = context.state is not None or bool(context.offered and context.offered.latest(utcnow()))
    if parse.intent == EMERGENCY and asked and answers.short(text) and not _red_flag(context):
        return Parse(parse.text, OUT_OF_SCOPE, parse.confidence, parse.entities)
    return parse


# How sure the NLU must be that a message answering nothing on offer is a new request, rather than an
# answer it did not understand (then the question is asked again). One or two words need more.
CLEAR_REQUEST = 0.6
CLEAR_SHORT_REQUEST = 0.85


def _clear_request(parse: Parse, text: str) -> bool:
    if parse.intent == OUT_OF_SCOPE:
        return False
    if parse.intent == EMERGENCY:
        return True
    return parse.confidence >= (CLEAR_SHORT_REQUEST if answers.short(text) else CLEAR_REQUEST)


def _real_question(choices: Sequence[answers.Choice]) -> bool:
    """A question worth asking again: not the main menu (with a province's «Đổi xã»), which the fallback
    shows anyway."""
    return bool(choices) and not all(c.value.startswith(("menu:", "commune:show")) for c in choices)


def _ask_again(context: Context, choices: Sequence[answers.Choice]) -> Reply:
    typed = (context.incoming.text or "").strip()
    shown = typed if len(typed) <= 60 else typed[:59] + "…"
    buttons = tuple(Button(c.labels[0], c.value, means=c.means, synonyms=c.synonyms) for c in choices)
    return Reply(context.t("answer.not_understood", text=shown), buttons)


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
        family = button_family(incoming.button)
        return f"button:{family}" if family in router.assembly.buttons else "button"
    return incoming.kind


@dataclass(frozen=True)
class Local:
    """One commune's part of the assistant (core/province.py): its services, built from its own data
    (products, doctors, procedures), and their routing tables."""

    router: Router
    services: Services


# Before routing: answers the message itself (the commune to choose), or None to route it
# (bots/dialogue/communes.py).
Gate = Callable[["Dialogue", Turn, "State | None", "Offered | None"], Awaitable["list[Reply] | None"]]


class Dialogue:
    """The pipeline's final handler: loads the state, routes, saves the state, all in the turn's
    transaction. Where the installation serves several communes, each user's message goes to their
    commune's services (`communes`), once `gate` knows which that is."""

    def __init__(self, router: Router, services: Services, observe: DialogueObserver | None = None,
                 communes: Mapping[str, Local] | None = None, gate: Gate | None = None) -> None:
        self.router = router
        self.services = services
        self.observe = observe
        self.home = Local(router, services)
        self.communes: Mapping[str, Local] = communes or {}
        self.gate = gate

    def local_of(self, identity: Identity) -> Local:
        """The user's commune's services; the installation's own for a user who has none."""
        return self.communes.get(identity.commune or "") or self.home

    async def __call__(self, turn: Turn) -> Outcome:
        assert turn.identity is not None
        started = time.perf_counter()
        state, asked = await load_conversation(turn.session, turn.identity.id, self.services.cipher)
        if self.gate is not None:
            answered = await self.gate(self, turn, state, asked)
            if answered is not None:
                return Outcome(tuple(answered))
        return Outcome(tuple(await self.converse(turn, state, asked, started)))

    async def converse(self, turn: Turn, state: State | None, asked: Offered | None,
                       started: float | None = None) -> list[Reply]:
        """Routes the message in the user's commune, then saves what the conversation became."""
        assert turn.identity is not None
        started = time.perf_counter() if started is None else started
        local = self.local_of(turn.identity)
        context = Context(turn, local.services, state=state, assembly=local.router.assembly)
        context.offered = asked
        replies = await local.router.route(context)
        for finish in local.router.finishers:
            replies = await finish(context, replies)
        await self._remember_question(context, replies)
        if self.observe is not None:
            self.observe(turn.incoming.channel, handled_by(local.router, context, state),
                         time.perf_counter() - started, context.parse is not None)
        if context.state_changed:
            if context.next_state is None:
                await clear_state(turn.session, turn.identity.id)
            else:
                await save_state(turn.session, turn.identity.id, context.next_state, self.services.cipher)
        return replies

    @staticmethod
    async def _remember_question(context: Context, replies: list[Reply]) -> None:
        """This turn's question (its last buttons), or none: read back when the next text comes."""
        if context.extras.get("user_deleted"):
            return  # the farewell of an erased account: there is no one to ask
        buttons = last_buttons(replies)
        if context.offered is not None and context.offered.asks_again(buttons, utcnow()):
            return  # the same question as last time, recently: nothing to write
        if not buttons and context.offered is None:
            return  # nothing was open and nothing is asked
        await remember(context.session, context.identity.id, buttons)
