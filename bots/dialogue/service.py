"""What a service declares, and the assembly that turns an ordered tuple of declarations into the
dialogue's routing tables and the pipeline's access rules.

A service (bots/services/<name>/) declares one `Service` value in its `unit` module: its intents and
conversation states, its commands and button families each with an `Audience` (core/roles.py: deny
by default by construction), its media handlers, menu entries, roles, background tasks, audit→metric
events, dashboard providers, i18n key prefixes and what it keeps about a villager (`Holdings`, read by
the account's /mydata); the same module's `TABLES` names its table modules (read without building the
service: bots/services/assembly.py). `assemble` refuses, at start-up, two services claiming the same
intent, state, command, button family, role, i18n prefix or export key, naming both.
Priority is data: the order of the tuple decides which media handler is asked first and which
`defaults` (answers only when no service claims the intent) apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.metrics import EventName
from core.roles import AccessRules, Audience

if TYPE_CHECKING:
    from bots.dialogue.base import Context, Finisher, FlowHandler, StateHandler
    from core.db import Database
    from core.messages import Reply
    from core.pipeline import AuditScalar

    # A media handler may decline (None) so that the next service's is asked.
    MediaHandler = Callable[[Context], Awaitable[list[Reply] | None]]


class ServiceConflict(ValueError):
    """Two services claim the same name, or a declaration is incomplete; raised at start-up."""


@dataclass(frozen=True)
class Command:
    name: str  # "/approve"
    audience: Audience  # no default: a command without an audience cannot be declared
    handler: FlowHandler

    def __post_init__(self) -> None:
        if not isinstance(self.audience, Audience):
            raise ServiceConflict(f"command {self.name} has no audience: declare PUBLIC or only(...)")
        if not self.name.startswith("/") or self.name != self.name.lower() or " " in self.name:
            raise ServiceConflict(f"command {self.name!r}: a lower-case name starting with /")


@dataclass(frozen=True)
class Buttons:
    """A button family: data `family:action[:args]`. The router calls `actions[action]` when the
    action is listed, else `handler` (a family whose data is not an action, such as `call:NUMBER`);
    a flow reads the parts from `context.press`, never by splitting strings."""

    family: str
    audience: Audience  # no default, as for commands
    actions: Mapping[str, FlowHandler] = field(default_factory=dict)
    handler: FlowHandler | None = None
    anywhere: bool = False  # works inside any open flow without touching it ("🔊 Nghe")

    def __post_init__(self) -> None:
        if not isinstance(self.audience, Audience):
            raise ServiceConflict(f"button family {self.family} has no audience: declare PUBLIC or only(...)")
        if not self.actions and self.handler is None:
            raise ServiceConflict(f"button family {self.family} has neither actions nor a handler")
        if ":" in self.family or not self.family:
            raise ServiceConflict(f"button family {self.family!r}: a name without ':'")


@dataclass(frozen=True)
class MenuEntry:
    """A button of the main menu (`menu:<intent>`, label `menu.<intent>`); `position` orders the menu."""

    intent: str
    position: int


@dataclass(frozen=True)
class DeskButton:
    """A button a role sees first under /help (`help.<role>` introduces them)."""

    role: str
    label: str  # an i18n key
    data: str


@dataclass(frozen=True)
class Role:
    """A role a service adds: `/invite NAME` makes a code for it. `invite` replaces the plain invite
    when the role needs more (`/invite seller ID`); `joined` adds to the answer of `/join CODE`."""

    name: str
    invite: FlowHandler | None = None
    joined: Callable[[Context], Awaitable[list[Reply]]] | None = None


@dataclass(frozen=True)
class TaskEnvironment:
    database: Database
    services: Any  # bots.dialogue.base.Services
    observe_audit: Callable[[str, str, Mapping[str, Any] | None], None]


@dataclass(frozen=True)
class Task:
    """A background loop run by `xaso serve` until `stop` is set."""

    name: str
    run: Callable[[TaskEnvironment, asyncio.Event], Awaitable[None]]


TaskRun = Callable[[TaskEnvironment, asyncio.Event], Awaitable[None]]


def periodic(work: Callable[[TaskEnvironment], Awaitable[Any]], *, failing: str,
             interval: float = 60.0) -> TaskRun:
    """A `Task`'s loop: `work` at once, then every `interval` seconds until `stop` is set. A failure is
    logged with its traceback (`failing`: what could not be done) and tried again at the next turn."""
    async def run(environment: TaskEnvironment, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await work(environment)
            except Exception:
                logging.getLogger(getattr(work, "__module__", __name__)).exception(
                    "%s; retrying in %s s", failing, interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    return run


@dataclass(frozen=True)
class Panel:
    """A dashboard provider (a section of figures or a map layer, bots/dashboard/figures.py);
    `position` orders the overview, as it orders the menu."""

    position: int
    provider: Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Fallbacks:
    """What answers when nothing else does (the menu service declares them)."""

    text: FlowHandler  # an intent no service handles, or no intent at all
    command: FlowHandler  # a command nobody declared
    button: FlowHandler  # a button family nobody declared (an old button)
    unbuilt: Callable[[str], FlowHandler]  # a menu entry whose service is not running


@dataclass(frozen=True)
class Erased:
    """What a service's step of an erasure did: its lines of the farewell, the work to run once the
    erasure is committed (a card payment withdrawn at its provider cannot be rolled back with the
    savepoint), and figures added to the account's `mydata.delete` audit record."""

    done: Sequence[str] = ()
    after: Sequence[Callable[[Context], Awaitable[None]]] = ()
    audited: Mapping[str, AuditScalar] = field(default_factory=dict)


@dataclass(frozen=True)
class Holdings:
    """What a service keeps about one villager, so that the account's /mydata (bots/services/account/)
    shows it, exports it and erases it without importing the service. A service that keeps personal
    data declares it, even when it is not configured but may still hold rows (a shop without a
    catalogue still has orders). Each callable gets the villager's turn (`context.identity`).

    `position` orders the services' parts everywhere: the card, the export, the deletion warning, the
    steps of the erasure and the farewell (the account's own export is 0: first)."""

    position: int
    # The phone numbers the villager gave it (for a delivery, in a dossier), each with where (a code):
    # the card's phone line names each number once, with every place it was given.
    phones: Callable[[Context], Awaitable[Sequence[tuple[str, str]]]] | None = None
    summary: Callable[[Context], Awaitable[Sequence[str]]] | None = None  # lines added under the card
    # Its keys of the export document, each with what fills it (JSON-able).
    export: Mapping[str, Callable[[Context], Awaitable[Any]]] = field(default_factory=dict)
    # The deletion warning: one line per item still open, saying what the erasure does to it.
    open_items: Callable[[Context], Awaitable[Sequence[str]]] | None = None
    # Its step of the erasure, inside the account's savepoint: if any step fails, none is kept.
    erase: Callable[[Context], Awaitable[Erased]] | None = None


@dataclass(frozen=True)
class Service:
    name: str
    intents: Mapping[str, FlowHandler] = field(default_factory=dict)
    # Intents answered only when no service in the assembly claims them (the menu's plain 115 answer).
    defaults: Mapping[str, FlowHandler] = field(default_factory=dict)
    states: Mapping[str, StateHandler] = field(default_factory=dict)
    # Its states whose handler reads typed answers itself, field by field (the form engine): the
    # router does not turn their typed text into a button press first.
    reads_typed: Sequence[str] = ()
    # Its states that still take a message after its 115 answer (the doctor reads the consult; a
    # danger described in a village report is still a report); every other state is left.
    through_emergency: Sequence[str] = ()
    commands: Sequence[Command] = ()
    buttons: Sequence[Buttons] = ()
    media: Mapping[str, MediaHandler] = field(default_factory=dict)  # location, contact, attachment, voice
    menu: Sequence[MenuEntry] = ()
    roles: Sequence[Role] = ()
    desk_buttons: Sequence[DeskButton] = ()
    tasks: Sequence[Task] = ()
    # Run once by Assistant.start, after the migrations (stock rows for new products).
    on_start: Sequence[Callable[[Database], Awaitable[None]]] = ()
    finishers: Sequence[Finisher] = ()
    events: Mapping[str, EventName] = field(default_factory=dict)  # audit action → metric event
    metric_label: str | None = None  # the `service` label of its events; its name by default
    figures: Sequence[Panel] = ()  # its sections of the dashboard (bots/dashboard/figures.py)
    layers: Sequence[Panel] = ()  # its layers of the dashboard's map
    i18n: Sequence[str] = ()  # the catalogue key prefixes it owns ("shop.")
    fallbacks: Fallbacks | None = None
    holdings: Holdings | None = None  # what it keeps about a villager, for /mydata
    # Buttons offered under the answer refusing a dangerous link (core/middlewares.py, InputLimits), each
    # (label's i18n key, button data): the scam lesson.
    link_refused: Sequence[tuple[str, str]] = ()
    # The service's own object, for its tasks and tests (the health desk with its clock).
    desk: Any = None


@dataclass(frozen=True)
class Assembly:
    """The services put together: the routing tables, the access rules and everything else declared."""

    services: tuple[Service, ...]
    intents: Mapping[str, FlowHandler]
    states: Mapping[str, StateHandler]
    reads_typed: frozenset[str]
    through_emergency: frozenset[str]
    commands: Mapping[str, FlowHandler]
    buttons: Mapping[str, Buttons]
    media: Mapping[str, tuple[MediaHandler, ...]]
    menu: tuple[str, ...]  # menu intents, in order
    roles: Mapping[str, Role]
    desk_buttons: Mapping[str, tuple[DeskButton, ...]]  # role → its buttons, roles in order of appearance
    finishers: tuple[Finisher, ...]
    access: AccessRules
    events: Mapping[str, tuple[str, EventName]]
    fallbacks: Fallbacks
    holdings: tuple[Holdings, ...] = ()  # in order of position (then of the services)

    @property
    def link_refused(self) -> tuple[tuple[str, str], ...]:
        return tuple(offer for service in self.services for offer in service.link_refused)

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def desk(self, name: str) -> Any:
        return self.service(name).desk

    @property
    def tasks(self) -> tuple[Task, ...]:
        return tuple(task for service in self.services for task in service.tasks)

    @property
    def figures(self) -> tuple[Panel, ...]:
        return tuple(sorted((panel for service in self.services for panel in service.figures),
                            key=lambda panel: panel.position))

    @property
    def layers(self) -> tuple[Panel, ...]:
        return tuple(sorted((panel for service in self.services for panel in service.layers),
                            key=lambda panel: panel.position))

    @property
    def i18n(self) -> tuple[str, ...]:
        return tuple(prefix for service in self.services for prefix in service.i18n)


class _Claims:
    """name → the service that claimed it, refusing a second claim with both names."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.owner: dict[str, str] = {}

    def claim(self, name: str, service: str) -> None:
        earlier = self.owner.get(name)
        if earlier is not None:
            raise ServiceConflict(f"{self.what} {name!r} is claimed by both {earlier!r} and {service!r}")
        self.owner[name] = service


def assemble(services: Iterable[Service]) -> Assembly:
    ordered = tuple(services)
    claims = {kind: _Claims(kind) for kind in
              ("service", "intent", "state", "command", "button family", "role", "i18n prefix", "menu entry",
               "audited action", "task", "fallbacks", "export key")}
    intents: dict[str, FlowHandler] = {}
    defaults: dict[str, FlowHandler] = {}
    states: dict[str, StateHandler] = {}
    commands: dict[str, FlowHandler] = {}
    buttons: dict[str, Buttons] = {}
    media: dict[str, list[MediaHandler]] = {}
    menu: list[MenuEntry] = []
    roles: dict[str, Role] = {}
    events: dict[str, tuple[str, EventName]] = {}
    fallbacks: Fallbacks | None = None
    for service in ordered:
        claims["service"].claim(service.name, service.name)
        for intent, handler in service.intents.items():
            claims["intent"].claim(intent, service.name)
            intents[intent] = handler
        for intent, handler in service.defaults.items():
            defaults.setdefault(intent, handler)
        for flow, state_handler in service.states.items():
            claims["state"].claim(flow, service.name)
            states[flow] = state_handler
        for flow in (*service.reads_typed, *service.through_emergency):
            if flow not in service.states:
                raise ServiceConflict(f"service {service.name!r} marks a state it does not declare: {flow!r}")
        for command in service.commands:
            claims["command"].claim(command.name, service.name)
            commands[command.name] = command.handler
        for family in service.buttons:
            claims["button family"].claim(family.family, service.name)
            buttons[family.family] = family
        for kind, media_handler in service.media.items():
            media.setdefault(kind, []).append(media_handler)
        for entry in service.menu:
            claims["menu entry"].claim(entry.intent, service.name)
            menu.append(entry)
        for role in service.roles:
            claims["role"].claim(role.name, service.name)
            roles[role.name] = role
        for prefix in service.i18n:
            claims["i18n prefix"].claim(prefix, service.name)
        for task in service.tasks:
            claims["task"].claim(task.name, service.name)
        for action, event in service.events.items():
            claims["audited action"].claim(action, service.name)
            events[action] = (service.metric_label or service.name, event)
        if service.fallbacks is not None:
            claims["fallbacks"].claim("fallbacks", service.name)
            fallbacks = service.fallbacks
        for key in service.holdings.export if service.holdings is not None else ():
            claims["export key"].claim(key, service.name)
    if fallbacks is None:
        raise ServiceConflict("no service declares the fallbacks (the menu service does)")
    for intent, handler in defaults.items():
        intents.setdefault(intent, handler)
    ordered_menu = tuple(entry.intent for entry in sorted(menu, key=lambda entry: entry.position))
    for intent in ordered_menu:
        if intent not in intents:
            intents[intent] = fallbacks.unbuilt(intent)
    desk_buttons: dict[str, list[DeskButton]] = {}
    for service in ordered:
        for button in service.desk_buttons:
            desk_buttons.setdefault(button.role, []).append(button)
    holdings = sorted((service.holdings for service in ordered if service.holdings is not None),
                      key=lambda held: held.position)
    declared = (command for service in ordered for command in service.commands)
    access = AccessRules({command.name: command.audience for command in declared},
                         {name: family.audience for name, family in buttons.items()})
    return Assembly(
        services=ordered, intents=intents, states=states, commands=commands, buttons=buttons,
        reads_typed=frozenset(flow for service in ordered for flow in service.reads_typed),
        through_emergency=frozenset(flow for service in ordered for flow in service.through_emergency),
        media={kind: tuple(handlers) for kind, handlers in media.items()}, menu=ordered_menu, roles=roles,
        desk_buttons={role: tuple(found) for role, found in desk_buttons.items()},
        finishers=tuple(finisher for service in ordered for finisher in service.finishers),
        access=access, events=events, fallbacks=fallbacks, holdings=tuple(holdings),
    )


def check_i18n(assembly: Assembly, keys: Callable[[str], Iterable[str]], languages: Sequence[str]) -> None:
    """Every declared i18n prefix has strings in every language (a service's catalogue file is there)."""
    for language in languages:
        known = tuple(keys(language))
        for prefix in assembly.i18n:
            if not any(key.startswith(prefix) for key in known):
                raise ServiceConflict(f"no {language} strings for the i18n prefix {prefix!r}")
