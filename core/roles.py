"""Who may do what: deny by default for every staff command and staff button.

The table is the single place where a command or button family gets its roles. Button data comes
from the client and is never trusted, so a button is checked exactly like the command it stands for.
"""

from __future__ import annotations

from dataclasses import dataclass

STAFF = frozenset({"staff"})
DOCTOR = frozenset({"doctor"})
SELLER = frozenset({"seller"})
ADMIN = frozenset({"admin"})

COMMAND_ROLES: dict[str, frozenset[str]] = {
    "/dossiers": STAFF,
    "/dossier": STAFF,
    "/approve": STAFF,
    "/reject": STAFF,
    "/request": STAFF,
    "/announce": STAFF,
    "/reports": STAFF,
    "/stats": STAFF,
    "/dashboard": STAFF,  # a one-time login link to the web dashboard (bots/dialogue/dashboard_link.py)
    "/queue": DOCTOR,
    "/answer": DOCTOR,
    "/close": DOCTOR,
    "/orders": SELLER,
    "/ship": SELLER,
    "/paid": SELLER | STAFF,  # a bank transfer or cash received (bots/dialogue/shop_seller.py)
    "/invite": ADMIN,
    "/revoke": ADMIN,
    "/deadletters": ADMIN,
}

# Button data is "family:action[:args]"; staff families are listed here, everything else is public.
BUTTON_ROLES: dict[str, frozenset[str]] = {
    "staff": STAFF,
    "dossier-admin": STAFF,
    "announce": STAFF,
    "report-admin": STAFF,
    "doctor": DOCTOR,
    "seller": SELLER,
    "admin": ADMIN,
}


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


def requirement_for(text: str | None, button: str | None) -> Requirement | None:
    """The roles needed for this message, or None for what every citizen may do."""
    if button is not None:
        family = button.split(":", 1)[0]
        roles = BUTTON_ROLES.get(family)
        return Requirement(f"button:{family}", roles) if roles else None
    if text is not None:
        name = command_name(text)
        if name is not None and name in COMMAND_ROLES:
            return Requirement(name, COMMAND_ROLES[name])
    return None
