"""Who may do what: deny by default, from what the services declared.

Core names no service. Each service declares its commands and button families, each with an
`Audience` (public, or the roles allowed); the assembly hands the resulting `AccessRules` to the
pipeline's `IdentifyAndAuthorize`, which checks every message against them. A command or family
cannot be declared without an audience, so nothing becomes public by being forgotten. Button data
comes from the client and is never trusted: a button is checked exactly like the command it stands for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Audience:
    """Who may use a command or a button family: everyone (`PUBLIC`) or holders of one of `roles`."""

    roles: frozenset[str]
    public: bool = False

    def __post_init__(self) -> None:
        if self.public == bool(self.roles):
            raise ValueError("an audience is either public or a non-empty set of roles")


PUBLIC = Audience(frozenset(), public=True)


def only(*roles: str) -> Audience:
    """The audience of a staff command: `only("staff")`, `only("seller", "staff")`."""
    return Audience(frozenset(roles))


@dataclass(frozen=True, slots=True)
class Requirement:
    action: str  # what is being attempted, for the audit log: "/approve" or "button:staff"
    roles: frozenset[str]


def command_name(text: str) -> str | None:
    """`/approve@xaso_bot LB-…` → `/approve`; None when the text is not a command."""
    stripped = text.strip()
    if not stripped.startswith("/") or len(stripped) < 2:
        return None
    return stripped.split(maxsplit=1)[0].split("@", 1)[0].lower()


def command_argument(text: str) -> str:
    """`/join ABC-123` → `ABC-123`: what follows a command (empty when nothing does)."""
    parts = text.strip().split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def button_family(data: str) -> str:
    """`dossier-admin:approve:LB-…` → `dossier-admin`."""
    return data.split(":", 1)[0]


class AccessRules:
    """The roles each declared command and button family needs. What no service declared has no
    handler either, so it reaches only the dialogue's polite "unknown" answer."""

    def __init__(self, commands: Mapping[str, Audience], buttons: Mapping[str, Audience]) -> None:
        for name, audience in (*commands.items(), *buttons.items()):
            if not isinstance(audience, Audience):
                raise TypeError(f"{name!r} has no audience: declare PUBLIC or only(...)")
        self.commands = dict(commands)
        self.buttons = dict(buttons)

    def requirement_for(self, text: str | None, button: str | None) -> Requirement | None:
        """The roles needed for this message, or None for what every citizen may do."""
        if button is not None:
            family = button_family(button)
            audience = self.buttons.get(family)
            if audience is not None and not audience.public:
                return Requirement(f"button:{family}", audience.roles)
            return None
        if text is not None:
            name = command_name(text)
            audience = self.commands.get(name) if name is not None else None
            if name is not None and audience is not None and not audience.public:
                return Requirement(name, audience.roles)
        return None

    def staff_commands(self) -> dict[str, frozenset[str]]:
        return {name: audience.roles for name, audience in self.commands.items() if not audience.public}
