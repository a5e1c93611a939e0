"""The dashboard's contents, in one visible place: the figure providers (one section each on the
overview and one key in /api/stats) and the map's layer providers, in the order shown.

A new service adds its providers here, e.g. for village reports:

    from bots.dashboard.reports import report_figures, report_layer
    ...
    figures=(..., report_figures), layers=(report_layer, dossier_layer)
"""

from __future__ import annotations

from bots.dashboard import providers
from bots.dashboard.figures import Registry


def default_registry() -> Registry:
    audit = providers.AuditFigures()
    return Registry(
        figures=(
            providers.messages,
            providers.dossiers,
            providers.consults,
            providers.payments,
            providers.outbox,
            audit,
        ),
        layers=(
            providers.dossier_layer,
        ),
        extra={"audit": audit},
    )
