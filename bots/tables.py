"""Every module that defines tables, in one list that Alembic reads (migrations/env.py): core's own,
the channels' durable inboxes and tokens, and what each service's unit declares in `TABLES`.

A module left out here would be left out of autogenerate without a word; tests/test_tables.py imports
every module of the project and fails naming any table whose module is not listed."""

from __future__ import annotations

import importlib

from bots.services.assembly import table_modules as service_tables

CORE = ("core.models", "core.counters", "core.signing.store", "core.audit_checkpoints")
CHANNELS = ("bots.telegram.inbox", "bots.zalo.models")


def table_modules() -> tuple[str, ...]:
    return (*CORE, *CHANNELS, *service_tables())


def import_all() -> None:
    """Imports every table module, so that `core.models.Base.metadata` holds every table."""
    for module in table_modules():
        importlib.import_module(module)
