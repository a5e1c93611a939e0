"""The dashboard's contents, in one visible place: the operations figures of the dashboard itself
(messages first; the outbox and the audit chain last) around the sections and map layers the services
declare (`Panel`s in bots/services/*/unit.py, ordered by position).
"""

from __future__ import annotations

from bots.dashboard import providers
from bots.dashboard.figures import Registry
from bots.dialogue.service import Assembly


def default_registry(assembly: Assembly) -> Registry:
    audit = providers.AuditFigures()
    return Registry(
        figures=(
            providers.messages,
            *(panel.provider for panel in assembly.figures),
            providers.outbox,
            audit,
        ),
        layers=tuple(panel.provider for panel in assembly.layers),
        extra={"audit": audit},
    )
