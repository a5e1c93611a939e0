"""The dashboard's contents, in one visible place: the figure providers (one section each on the
overview and one key in /api/stats) and the map's layer providers, in the order shown.

A new service adds its providers here (a section provider and, if it has places, a layer).
"""

from __future__ import annotations

from bots.dashboard import commerce, providers, reports
from bots.dashboard.figures import Registry


def default_registry() -> Registry:
    audit = providers.AuditFigures()
    return Registry(
        figures=(
            providers.messages,
            providers.dossiers,
            providers.consults,
            providers.payments,
            reports.report_figures_section,
            commerce.orders,
            commerce.announcements,
            commerce.appointments,
            providers.outbox,
            audit,
        ),
        layers=(
            reports.report_layer,
            providers.dossier_layer,
        ),
        extra={"audit": audit},
    )
